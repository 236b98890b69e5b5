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
use crate::input::{detect, looks_like_header, too_large, Format};

/// Reads a file as chunks that each hold whole documents.
pub struct ChunkReader {
    source: Box<dyn BufRead + Send>,
    format: Format,
    chunk_size: usize,
    max_json_depth: usize,
    max_line_bytes: usize,
    max_value_bytes: usize,
    carry: Vec<u8>,
    finished: bool,
}

impl ChunkReader {
    /// Opens `path`; with `Format::Auto`, the format is decided from the first chunk. Limits come
    /// from the documents' limits: lines longer than a document may be are cut (and then
    /// rejected); a file that is one JSON value is read whole, up to `max_value_bytes`.
    pub fn open(
        path: &Path,
        format: Format,
        chunk_size: usize,
        limits: DocumentLimits,
        max_value_bytes: usize,
    ) -> io::Result<Self> {
        let mut file = BufReader::with_capacity(1 << 16, File::open(path)?);
        let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let source: Box<dyn BufRead + Send> = if gzip {
            Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(file)))
        } else {
            Box::new(file)
        };
        Ok(Self {
            source,
            format,
            chunk_size: chunk_size.max(1),
            max_json_depth: limits.max_json_depth,
            max_line_bytes: limits.max_document_bytes,
            max_value_bytes,
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
        (&mut self.source)
            .take((want - chunk.len()) as u64)
            .read_to_end(&mut chunk)?;
        let at_end = chunk.len() < want;
        if self.format == Format::Auto {
            // Decide on a complete first line when there is one within a document's size.
            let bound = self.chunk_size.max(self.max_line_bytes + 1);
            let first_line_complete = at_end || self.read_first_line(&mut chunk, bound)?;
            self.format = match detect(&chunk, self.max_json_depth) {
                Format::Ndjson => Format::Ndjson,
                // A first line longer than any document can be is an NDJSON line to reject.
                Format::Document if !first_line_complete => Format::Ndjson,
                _ => {
                    // One JSON value, read whole; decided again on all of it, since the first
                    // chunk may have ended before the key that tells which envelope it is.
                    self.read_whole(&mut chunk)?;
                    self.format = detect(&chunk, self.max_json_depth);
                    self.finished = true;
                    return Ok(Some(chunk));
                }
            };
        } else if self.format != Format::Ndjson {
            self.read_whole(&mut chunk)?;
            self.finished = true;
            return Ok(Some(chunk));
        }
        if at_end || chunk.len() < want && self.source.fill_buf()?.is_empty() {
            self.finished = true;
            return Ok((!chunk.is_empty()).then_some(chunk));
        }
        // Keep the unfinished last line for the next chunk, and a daemon header line with the
        // document it introduces. A line longer than a chunk is read to its end, but only its
        // first `max_line_bytes` + 1 bytes are kept: enough for it to be rejected as too large.
        match memchr::memrchr(b'\n', &chunk) {
            Some(end) => {
                let last_line_start = memchr::memrchr(b'\n', &chunk[..end]).map_or(0, |at| at + 1);
                let cut = if looks_like_header(chunk[last_line_start..end].trim_ascii()) {
                    last_line_start
                } else {
                    end + 1
                };
                self.carry = chunk.split_off(cut);
                if chunk.is_empty() {
                    // The chunk held only a header line: take the next line along with it.
                    chunk = std::mem::take(&mut self.carry);
                    self.read_rest_of_line(&mut chunk)?;
                }
            }
            None => self.read_rest_of_line(&mut chunk)?,
        }
        Ok(Some(chunk))
    }
}

impl ChunkReader {
    /// Reads the rest of a one-value input into `chunk`, up to `max_value_bytes`.
    fn read_whole(&mut self, chunk: &mut Vec<u8>) -> io::Result<()> {
        let room = (self.max_value_bytes + 1).saturating_sub(chunk.len());
        (&mut self.source).take(room as u64).read_to_end(chunk)?;
        if chunk.len() > self.max_value_bytes {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                too_large(self.max_value_bytes, "is one JSON value of"),
            ));
        }
        Ok(())
    }

    /// Reads on until `chunk` holds a whole first line or `bound` bytes; true if the line ended.
    fn read_first_line(&mut self, chunk: &mut Vec<u8>, bound: usize) -> io::Result<bool> {
        while memchr::memchr(b'\n', chunk).is_none() {
            if chunk.len() >= bound {
                return Ok(false);
            }
            let before = chunk.len();
            (&mut self.source)
                .take((bound - before) as u64)
                .read_to_end(chunk)?;
            if chunk.len() == before {
                return Ok(true); // end of input: the line is complete
            }
        }
        Ok(true)
    }

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
