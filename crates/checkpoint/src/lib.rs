//! Checkpoints: the engine's snapshot and the input offsets it covers, persisted together in one
//! versioned file, so a restart resumes exactly where the checkpoint was taken.
//!
//! File layout (`DIR/checkpoint`): the 8 magic bytes `RWCKPv01`, the CRC-32 of the body (4 bytes,
//! little endian), then the body ([`Checkpoint`] in postcard). A write goes to `DIR/checkpoint.tmp`,
//! is fsynced, renamed over `DIR/checkpoint`, and the directory is fsynced: a crash at any point
//! leaves either the old or the new checkpoint, never a torn one. No async runtime is involved.

use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Magic bytes and format version at the head of a checkpoint file.
pub const MAGIC: &[u8; 8] = b"RWCKPv01";

/// File name of the current checkpoint inside the checkpoint directory.
pub const FILE_NAME: &str = "checkpoint";

/// One partition's offset.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionOffset {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// For inputs, the next offset to consume; for the alerts topic, its end offset (the offset
    /// the next alert would get) when the checkpoint was taken.
    pub offset: i64,
}

/// Engine state and the offsets it covers, taken at one point of the stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Increases by one with every checkpoint written by a pipeline.
    pub sequence: u64,
    /// Wall-clock time of the checkpoint, milliseconds since the Unix epoch (informational).
    pub created_unix_ms: u64,
    /// The engine snapshot (`Engine::snapshot` bytes, versioned on their own).
    pub engine: Vec<u8>,
    /// Next input offset per (topic, partition): every record before it is in `engine`.
    pub inputs: Vec<PartitionOffset>,
    /// End offsets of the alerts topic's partitions once every alert emitted before this
    /// checkpoint was acknowledged: alerts at or after them may be re-emitted after a restore.
    pub alerts: Vec<PartitionOffset>,
}

/// A checkpoint file that could not be used.
#[derive(Debug)]
pub enum CheckpointError {
    /// Reading or writing failed.
    Io(PathBuf, io::Error),
    /// The file is not a checkpoint of this version, or is damaged.
    Corrupt(PathBuf, String),
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::Io(p, e) => write!(f, "checkpoint {}: {e}", p.display()),
            CheckpointError::Corrupt(p, m) => write!(f, "checkpoint {}: {m}", p.display()),
        }
    }
}

impl std::error::Error for CheckpointError {}

impl Checkpoint {
    /// The checkpoint before the first: nothing learned, no offsets.
    pub fn empty() -> Checkpoint {
        Checkpoint {
            sequence: 0,
            created_unix_ms: 0,
            engine: vec![],
            inputs: vec![],
            alerts: vec![],
        }
    }

    /// The file's bytes: magic, CRC-32 of the body, body.
    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_stdvec(self).expect("checkpoint serialises");
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses [`Checkpoint::encode`] bytes; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or("not a reachwatch checkpoint of this version (expected RWCKPv01)")?;
        if rest.len() < 4 {
            return Err("truncated checkpoint".into());
        }
        let (crc, body) = rest.split_at(4);
        let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        if crc32fast::hash(body) != crc {
            return Err("checksum mismatch: the checkpoint is damaged".into());
        }
        postcard::from_bytes(body).map_err(|e| format!("corrupt checkpoint body: {e}"))
    }

    /// Writes the checkpoint atomically into `dir` (created if missing): temp file, fsync,
    /// rename, fsync of the directory. Returns the checkpoint's path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf, CheckpointError> {
        Checkpoint::write_encoded(dir, &self.encode())
    }

    /// [`Checkpoint::write`] of a checkpoint already encoded ([`Checkpoint::encode`]).
    pub fn write_encoded(dir: &Path, bytes: &[u8]) -> Result<PathBuf, CheckpointError> {
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |e| CheckpointError::Io(p, e)
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(path)
    }

    /// Reads the checkpoint in `dir`; `Ok(None)` when there is none yet.
    pub fn read(dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = dir.join(FILE_NAME);
        match fs::read(&path) {
            Ok(bytes) => Checkpoint::decode(&bytes)
                .map(Some)
                .map_err(|m| CheckpointError::Corrupt(path, m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CheckpointError::Io(path, e)),
        }
    }

    /// The recorded next offset of an input partition.
    pub fn input_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.inputs
            .iter()
            .find(|p| p.topic == topic && p.partition == partition)
            .map(|p| p.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            sequence: 7,
            created_unix_ms: 1_700_000_000_000,
            engine: b"RWENGv01 state".to_vec(),
            inputs: vec![PartitionOffset {
                topic: "auth".into(),
                partition: 2,
                offset: 41,
            }],
            alerts: vec![PartitionOffset {
                topic: "alerts".into(),
                partition: 0,
                offset: 3,
            }],
        }
    }

    #[test]
    fn round_trips_through_the_directory_and_replaces_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), None);
        let mut c = sample();
        c.write(dir.path()).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), Some(c.clone()));
        c.sequence = 8;
        c.inputs[0].offset = 99;
        c.write(dir.path()).unwrap();
        let back = Checkpoint::read(dir.path()).unwrap().unwrap();
        assert_eq!(back, c);
        assert_eq!(back.input_offset("auth", 2), Some(99));
        assert_eq!(back.input_offset("auth", 1), None);
        assert!(!dir.path().join("checkpoint.tmp").exists());
    }

    #[test]
    fn damaged_or_foreign_files_are_refused_with_a_reason() {
        let bytes = sample().encode();
        let err = Checkpoint::decode(b"RWENGv01whatever").unwrap_err();
        assert!(err.contains("not a reachwatch checkpoint"), "{err}");
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let err = Checkpoint::decode(&flipped).unwrap_err();
        assert!(err.contains("checksum"), "{err}");
        let err = Checkpoint::decode(&bytes[..10]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), &bytes[..bytes.len() - 1]).unwrap();
        let err = Checkpoint::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
    }

    #[test]
    fn a_leftover_temp_file_from_a_crash_does_not_hide_the_last_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        sample().write(dir.path()).unwrap();
        std::fs::write(dir.path().join("checkpoint.tmp"), b"half written").unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap(), Some(sample()));
        let mut c = sample();
        c.sequence = 9;
        c.write(dir.path()).unwrap();
        assert_eq!(Checkpoint::read(dir.path()).unwrap().unwrap().sequence, 9);
    }
}
