//! Raw code files: the headerless output of `nasm -f bin`, loaded with their size checked.

use std::fs::{File, Metadata};
use std::io::Read as _;
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use crate::{Error, Result};

/// The largest raw code file polylink loads: 1 MiB, far beyond any routine here, so that a
/// wrong path to a large file is refused rather than mapped.
pub const MAX_RAW_CODE: usize = 1 << 20;

/// Reads a raw code file, refusing a missing, empty or too large one, and anything that is not
/// a regular file (a FIFO would block the read forever, `/dev/zero` never ends). It reads at
/// most one byte more than the limit, whatever the file claims.
pub fn load(path: &Path) -> Result<Vec<u8>> {
    let read_error = |cause| Error::Read {
        path: path.to_path_buf(),
        cause,
    };
    let name = path.display().to_string();
    // Asked of the path before it is opened, and of the open file after, in case the path
    // was swapped between the two; opening without blocking, so a FIFO cannot hold us.
    regular(path, &std::fs::metadata(path).map_err(read_error)?)?;
    let file = File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    regular(path, &metadata)?;
    if metadata.len() > MAX_RAW_CODE as u64 {
        return Err(Error::TooLarge {
            name,
            len: metadata.len(),
            limit: MAX_RAW_CODE,
        });
    }
    let mut code = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_RAW_CODE as u64 + 1)
        .read_to_end(&mut code)
        .map_err(read_error)?;
    check_size(&name, &code)?;
    Ok(code)
}

/// Refuses anything but a regular file, naming what it is.
fn regular(path: &Path, metadata: &Metadata) -> Result<()> {
    let kind = metadata.file_type();
    let what = match () {
        _ if kind.is_file() => return Ok(()),
        _ if kind.is_dir() => "a directory",
        _ if kind.is_fifo() => "a FIFO (named pipe)",
        _ if kind.is_socket() => "a socket",
        _ if kind.is_char_device() => "a character device",
        _ if kind.is_block_device() => "a block device",
        _ => "not a regular file",
    };
    Err(Error::NotRegular {
        path: path.to_path_buf(),
        what,
    })
}

/// Refuses empty code and code over [`MAX_RAW_CODE`].
pub fn check_size(name: &str, code: &[u8]) -> Result<()> {
    if code.is_empty() {
        return Err(Error::Empty { name: name.into() });
    }
    if code.len() > MAX_RAW_CODE {
        return Err(Error::TooLarge {
            name: name.into(),
            len: code.len() as u64,
            limit: MAX_RAW_CODE,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_before_they_are_read() {
        let refused = |path: &str| load(Path::new(path)).unwrap_err().to_string();
        assert!(
            refused("/dev/zero").contains("is a character device"),
            "{}",
            refused("/dev/zero")
        );
        assert!(refused("/").contains("is a directory"));
        let dir = std::env::temp_dir().join(format!("polylink-raw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let error = load(&fifo).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("is a FIFO"), "{error}");
    }
}
