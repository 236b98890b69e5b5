//! Files → chunks of whole documents, so a file larger than memory streams through.
//!
//! Gzip is recognised by its magic bytes, not the file name. NDJSON (including captures with daemon
//! header lines) is cut at line boundaries into chunks of about `chunk_size` bytes; every other
//! format is one JSON value and is returned whole.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::document::DocumentLimits;
use crate::input::{detect, Format};

/// Reads a file as chunks that each hold whole documents.
pub struct ChunkReader {
    source: Box<dyn BufRead + Send>,
    format: Format,
    chunk_size: usize,
    max_json_depth: usize,
    max_line_bytes: usize,
    carry: Vec<u8>,
    finished: bool,
}

impl ChunkReader {
    /// Opens `path`; with `Format::Auto`, the format is decided from the first chunk. Limits come
    /// from the documents' limits: lines longer than a document may be are cut (and then rejected).
    pub fn open(path: &Path, format: Format, chunk_size: usize, limits: DocumentLimits) -> io::Result<Self> {
        let mut file = BufReader::with_capacity(1 << 16, File::open(path)?);
        let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let source: Box<dyn BufRead + Send> =
            if gzip { Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(file))) } else { Box::new(file) };
        Ok(Self {
            source,
            format,
            chunk_size: chunk_size.max(1),
            max_json_depth: limits.max_json_depth,
            max_line_bytes: limits.max_document_bytes,
            carry: Vec::new(),
            finished: false,
        })
    }

    /// The format in force: known once the first chunk has been read.
    #[must_use]
    pub fn format(&self) -> Format {
        self.format
    }

    /// The next chunk, or `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.finished {
            return Ok(None);
        }
        let mut chunk = std::mem::take(&mut self.carry);
        let want = self.chunk_size.max(chunk.len() + 1);
        (&mut self.source).take((want - chunk.len()) as u64).read_to_end(&mut chunk)?;
        if self.format == Format::Auto {
            self.format = detect(&chunk, self.max_json_depth);
        }
        if self.format != Format::Ndjson {
            // One JSON value: it has to be read whole to be parsed.
            self.source.read_to_end(&mut chunk)?;
            self.finished = true;
            return Ok(Some(chunk));
        }
        if chunk.len() < want {
            self.finished = true;
            return Ok((!chunk.is_empty()).then_some(chunk));
        }
        // Keep the unfinished last line for the next chunk. A line longer than a chunk is read to
        // its end, but only its first `max_line_bytes` + 1 bytes are kept: that is enough for it
        // to be rejected as too large, and an endless line cannot exhaust memory.
        match memchr::memrchr(b'\n', &chunk) {
            Some(end) => self.carry = chunk.split_off(end + 1),
            None => {
                self.read_rest_of_line(&mut chunk)?;
            }
        }
        Ok(Some(chunk))
    }
}

impl ChunkReader {
    /// Appends the rest of the current line to `line`, keeping at most `max_line_bytes` + 1 bytes.
    fn read_rest_of_line(&mut self, line: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let available = self.source.fill_buf()?;
            if available.is_empty() {
                return Ok(());
            }
            let (take, done) = match memchr::memchr(b'\n', available) {
                Some(end) => (end + 1, true),
                None => (available.len(), false),
            };
            let room = (self.max_line_bytes + 1).saturating_sub(line.len());
            line.extend_from_slice(&available[..take.min(room)]);
            if done && take > room {
                line.push(b'\n');
            }
            self.source.consume(take);
            if done {
                return Ok(());
            }
        }
    }
}

impl Iterator for ChunkReader {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}
