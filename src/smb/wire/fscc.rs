//! File system control structures carried inside SMB2 QUERY_INFO, SET_INFO and QUERY_DIRECTORY
//! buffers (MS-FSCC 2.4 file information classes, 2.5 file system information classes, 2.6
//! file attributes), and FILETIME conversion (MS-DTYP 2.3.3).
//!
//! Every decoder takes the buffer the server returned (not the SMB2 message), reads the fixed
//! part through [`Reader`] and ignores trailing bytes (servers may pad). All sizes and offsets
//! below are from MS-FSCC; the structures are little-endian and, apart from the directory
//! entries, unaligned.
use super::{DecodeError, Put, Reader, from_utf16le, slice_at, utf16le};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// FILETIME (MS-DTYP 2.3.3): 100-ns intervals since 1601-01-01 UTC.

/// The FILETIME of the Unix epoch.
pub const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;
const TICKS_PER_SEC: u64 = 10_000_000;
/// In SET_INFO FileBasicInformation: "A value of 0 ... indicates to the server that it MUST
/// NOT change this attribute" (MS-FSCC 2.4.7). In a reply: time unknown.
pub const FILETIME_UNCHANGED: u64 = 0;
/// -1 in SET_INFO FileBasicInformation: do not change this time for any later operation on the
/// handle either (MS-FSCC 2.4.7).
pub const FILETIME_FREEZE: u64 = u64::MAX;
/// -2 in SET_INFO FileBasicInformation: resume updating this time after a -1 (MS-FSCC 2.4.7).
pub const FILETIME_THAW: u64 = u64::MAX - 1;

/// A FILETIME as a `SystemTime`. `None` for 0 ("not specified"), for the special negative
/// values (-1, -2: anything above `i64::MAX`), and for times the platform cannot represent.
pub fn filetime_to_system_time(ft: u64) -> Option<SystemTime> {
    if ft == 0 || ft > i64::MAX as u64 {
        return None;
    }
    let (after, ticks) = if ft >= FILETIME_UNIX_EPOCH {
        (true, ft - FILETIME_UNIX_EPOCH)
    } else {
        (false, FILETIME_UNIX_EPOCH - ft)
    };
    // ticks % TICKS_PER_SEC < 10^7, so the nanoseconds fit a u32 below 10^9.
    let nanos = ((ticks % TICKS_PER_SEC) * 100) as u32;
    let d = Duration::new(ticks / TICKS_PER_SEC, nanos);
    if after {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// A `SystemTime` as a FILETIME, truncated to 100 ns and clamped to `1..=i64::MAX` so the
/// result is never one of the special values (0, -1, -2).
pub fn system_time_to_filetime(t: SystemTime) -> u64 {
    let ticks_of = |d: Duration| {
        d.as_secs()
            .saturating_mul(TICKS_PER_SEC)
            .saturating_add(u64::from(d.subsec_nanos() / 100))
    };
    let ft = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => FILETIME_UNIX_EPOCH.saturating_add(ticks_of(d)),
        Err(e) => FILETIME_UNIX_EPOCH.saturating_sub(ticks_of(e.duration())),
    };
    ft.clamp(1, i64::MAX as u64)
}

// ---------------------------------------------------------------------------------------------
// Constants

/// File attributes (MS-FSCC 2.6).
pub mod attributes {
    pub const READONLY: u32 = 0x0000_0001;
    pub const HIDDEN: u32 = 0x0000_0002;
    pub const SYSTEM: u32 = 0x0000_0004;
    pub const DIRECTORY: u32 = 0x0000_0010;
    pub const ARCHIVE: u32 = 0x0000_0020;
    pub const NORMAL: u32 = 0x0000_0080;
    pub const TEMPORARY: u32 = 0x0000_0100;
    pub const SPARSE_FILE: u32 = 0x0000_0200;
    pub const REPARSE_POINT: u32 = 0x0000_0400;
    pub const COMPRESSED: u32 = 0x0000_0800;
    pub const OFFLINE: u32 = 0x0000_1000;
    pub const NOT_CONTENT_INDEXED: u32 = 0x0000_2000;
    pub const ENCRYPTED: u32 = 0x0000_4000;
    pub const INTEGRITY_STREAM: u32 = 0x0000_8000;
    pub const NO_SCRUB_DATA: u32 = 0x0002_0000;
    pub const RECALL_ON_OPEN: u32 = 0x0004_0000;
    pub const PINNED: u32 = 0x0008_0000;
    pub const UNPINNED: u32 = 0x0010_0000;
    pub const RECALL_ON_DATA_ACCESS: u32 = 0x0040_0000;
}

/// File information classes for SMB2 QUERY_INFO / SET_INFO with InfoType FILE and for
/// QUERY_DIRECTORY (MS-FSCC 2.4).
pub mod info_class {
    pub const FILE_DIRECTORY_INFORMATION: u8 = 1;
    pub const FILE_FULL_DIRECTORY_INFORMATION: u8 = 2;
    pub const FILE_BOTH_DIRECTORY_INFORMATION: u8 = 3;
    pub const FILE_BASIC_INFORMATION: u8 = 4;
    pub const FILE_STANDARD_INFORMATION: u8 = 5;
    pub const FILE_INTERNAL_INFORMATION: u8 = 6;
    pub const FILE_EA_INFORMATION: u8 = 7;
    pub const FILE_ACCESS_INFORMATION: u8 = 8;
    pub const FILE_NAME_INFORMATION: u8 = 9;
    pub const FILE_RENAME_INFORMATION: u8 = 10;
    pub const FILE_LINK_INFORMATION: u8 = 11;
    pub const FILE_NAMES_INFORMATION: u8 = 12;
    pub const FILE_DISPOSITION_INFORMATION: u8 = 13;
    pub const FILE_POSITION_INFORMATION: u8 = 14;
    pub const FILE_FULL_EA_INFORMATION: u8 = 15;
    pub const FILE_MODE_INFORMATION: u8 = 16;
    pub const FILE_ALIGNMENT_INFORMATION: u8 = 17;
    pub const FILE_ALL_INFORMATION: u8 = 18;
    pub const FILE_ALLOCATION_INFORMATION: u8 = 19;
    pub const FILE_END_OF_FILE_INFORMATION: u8 = 20;
    pub const FILE_ALTERNATE_NAME_INFORMATION: u8 = 21;
    pub const FILE_STREAM_INFORMATION: u8 = 22;
    pub const FILE_COMPRESSION_INFORMATION: u8 = 28;
    pub const FILE_NETWORK_OPEN_INFORMATION: u8 = 34;
    pub const FILE_ATTRIBUTE_TAG_INFORMATION: u8 = 35;
    pub const FILE_ID_BOTH_DIRECTORY_INFORMATION: u8 = 37;
    pub const FILE_ID_FULL_DIRECTORY_INFORMATION: u8 = 38;
}

/// File system information classes for SMB2 QUERY_INFO with InfoType FILESYSTEM (MS-FSCC 2.5).
pub mod fs_info_class {
    pub const FILE_FS_VOLUME_INFORMATION: u8 = 1;
    pub const FILE_FS_LABEL_INFORMATION: u8 = 2;
    pub const FILE_FS_SIZE_INFORMATION: u8 = 3;
    pub const FILE_FS_DEVICE_INFORMATION: u8 = 4;
    pub const FILE_FS_ATTRIBUTE_INFORMATION: u8 = 5;
    pub const FILE_FS_CONTROL_INFORMATION: u8 = 6;
    pub const FILE_FS_FULL_SIZE_INFORMATION: u8 = 7;
    pub const FILE_FS_OBJECT_ID_INFORMATION: u8 = 8;
    pub const FILE_FS_SECTOR_SIZE_INFORMATION: u8 = 11;
}

/// FileSystemAttributes bits of FileFsAttributeInformation (MS-FSCC 2.5.1).
pub mod fs_attributes {
    pub const CASE_SENSITIVE_SEARCH: u32 = 0x0000_0001;
    pub const CASE_PRESERVED_NAMES: u32 = 0x0000_0002;
    pub const UNICODE_ON_DISK: u32 = 0x0000_0004;
    pub const PERSISTENT_ACLS: u32 = 0x0000_0008;
    pub const FILE_COMPRESSION: u32 = 0x0000_0010;
    pub const VOLUME_QUOTAS: u32 = 0x0000_0020;
    pub const SUPPORTS_SPARSE_FILES: u32 = 0x0000_0040;
    pub const SUPPORTS_REPARSE_POINTS: u32 = 0x0000_0080;
    pub const SUPPORTS_REMOTE_STORAGE: u32 = 0x0000_0100;
    pub const VOLUME_IS_COMPRESSED: u32 = 0x0000_8000;
    pub const SUPPORTS_OBJECT_IDS: u32 = 0x0001_0000;
    pub const SUPPORTS_ENCRYPTION: u32 = 0x0002_0000;
    pub const NAMED_STREAMS: u32 = 0x0004_0000;
    pub const READ_ONLY_VOLUME: u32 = 0x0008_0000;
    pub const SUPPORTS_HARD_LINKS: u32 = 0x0040_0000;
    pub const SUPPORTS_EXTENDED_ATTRIBUTES: u32 = 0x0080_0000;
}

/// Reparse tag of a symbolic link (MS-FSCC 2.1.2.1 IO_REPARSE_TAG_SYMLINK).
pub const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;

/// Most directory entries accepted from one QUERY_DIRECTORY buffer (each entry is at least 104
/// bytes, so an 8 MiB buffer holds about 80 000).
pub const MAX_DIR_ENTRIES: usize = 1 << 17;

// ---------------------------------------------------------------------------------------------
// File information classes (MS-FSCC 2.4)

/// FileBasicInformation (MS-FSCC 2.4.7): 40 bytes, the last 4 Reserved. Times are FILETIMEs;
/// in SET_INFO 0 means "do not change" ([`FILETIME_UNCHANGED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileBasicInformation {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    /// 0 in SET_INFO means "do not change".
    pub file_attributes: u32,
}

impl FileBasicInformation {
    pub const CLASS: u8 = info_class::FILE_BASIC_INFORMATION;
    pub const SIZE: usize = 40;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(buf))
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = Self {
            creation_time: r.u64("FileBasicInformation.CreationTime")?,
            last_access_time: r.u64("FileBasicInformation.LastAccessTime")?,
            last_write_time: r.u64("FileBasicInformation.LastWriteTime")?,
            change_time: r.u64("FileBasicInformation.ChangeTime")?,
            file_attributes: r.u32("FileBasicInformation.FileAttributes")?,
        };
        r.skip(4, "FileBasicInformation.Reserved")?;
        Ok(v)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.creation_time);
        out.put_u64(self.last_access_time);
        out.put_u64(self.last_write_time);
        out.put_u64(self.change_time);
        out.put_u32(self.file_attributes);
        out.put_u32(0);
    }
}

/// FileStandardInformation (MS-FSCC 2.4.41): 24 bytes (2 Reserved at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileStandardInformation {
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub number_of_links: u32,
    pub delete_pending: bool,
    pub directory: bool,
}

impl FileStandardInformation {
    pub const CLASS: u8 = info_class::FILE_STANDARD_INFORMATION;
    pub const SIZE: usize = 24;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(buf))
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let v = Self {
            allocation_size: r.u64("FileStandardInformation.AllocationSize")?,
            end_of_file: r.u64("FileStandardInformation.EndOfFile")?,
            number_of_links: r.u32("FileStandardInformation.NumberOfLinks")?,
            delete_pending: r.u8("FileStandardInformation.DeletePending")? != 0,
            directory: r.u8("FileStandardInformation.Directory")? != 0,
        };
        r.skip(2, "FileStandardInformation.Reserved")?;
        Ok(v)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.allocation_size);
        out.put_u64(self.end_of_file);
        out.put_u32(self.number_of_links);
        out.put_u8(u8::from(self.delete_pending));
        out.put_u8(u8::from(self.directory));
        out.put_u16(0);
    }
}

/// FileInternalInformation (MS-FSCC 2.4.22): the 64-bit file id (IndexNumber).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileInternalInformation {
    pub index_number: u64,
}

impl FileInternalInformation {
    pub const CLASS: u8 = info_class::FILE_INTERNAL_INFORMATION;
    pub const SIZE: usize = 8;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        Self::read(&mut Reader::new(buf))
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            index_number: r.u64("FileInternalInformation.IndexNumber")?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.index_number);
    }
}

/// FileNetworkOpenInformation (MS-FSCC 2.4.34): 56 bytes (4 Reserved at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileNetworkOpenInformation {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
}

impl FileNetworkOpenInformation {
    pub const CLASS: u8 = info_class::FILE_NETWORK_OPEN_INFORMATION;
    pub const SIZE: usize = 56;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let v = Self {
            creation_time: r.u64("FileNetworkOpenInformation.CreationTime")?,
            last_access_time: r.u64("FileNetworkOpenInformation.LastAccessTime")?,
            last_write_time: r.u64("FileNetworkOpenInformation.LastWriteTime")?,
            change_time: r.u64("FileNetworkOpenInformation.ChangeTime")?,
            allocation_size: r.u64("FileNetworkOpenInformation.AllocationSize")?,
            end_of_file: r.u64("FileNetworkOpenInformation.EndOfFile")?,
            file_attributes: r.u32("FileNetworkOpenInformation.FileAttributes")?,
        };
        r.skip(4, "FileNetworkOpenInformation.Reserved")?;
        Ok(v)
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.creation_time);
        out.put_u64(self.last_access_time);
        out.put_u64(self.last_write_time);
        out.put_u64(self.change_time);
        out.put_u64(self.allocation_size);
        out.put_u64(self.end_of_file);
        out.put_u32(self.file_attributes);
        out.put_u32(0);
    }
}

/// FileEndOfFileInformation (MS-FSCC 2.4.14): truncate or extend (SET_INFO).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileEndOfFileInformation {
    pub end_of_file: u64,
}

impl FileEndOfFileInformation {
    pub const CLASS: u8 = info_class::FILE_END_OF_FILE_INFORMATION;
    pub const SIZE: usize = 8;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            end_of_file: Reader::new(buf).u64("FileEndOfFileInformation.EndOfFile")?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.end_of_file);
    }
}

/// FileDispositionInformation (MS-FSCC 2.4.11): one byte, DeletePending (SET_INFO: delete the
/// file when the last handle closes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileDispositionInformation {
    pub delete_pending: bool,
}

impl FileDispositionInformation {
    pub const CLASS: u8 = info_class::FILE_DISPOSITION_INFORMATION;
    pub const SIZE: usize = 1;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let b = Reader::new(buf).u8("FileDispositionInformation.DeletePending")?;
        Ok(Self {
            delete_pending: b != 0,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(u8::from(self.delete_pending));
    }
}

/// FileRenameInformation in the SMB2 form, FILE_RENAME_INFORMATION_TYPE_2 (MS-FSCC 2.4.37.2):
/// ReplaceIfExists (1), Reserved (7), RootDirectory (8), FileNameLength (4), FileName.
///
/// `file_name` is the full new path relative to the share root (no leading backslash);
/// "RootDirectory ... MUST be set to zero" over SMB2. No terminator is sent
/// (FileNameLength counts the name's bytes).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileRenameInformation {
    pub replace_if_exists: bool,
    pub root_directory: u64,
    pub file_name: String,
}

impl FileRenameInformation {
    pub const CLASS: u8 = info_class::FILE_RENAME_INFORMATION;
    const FIXED: usize = 20;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let replace_if_exists = r.u8("FileRenameInformation.ReplaceIfExists")? != 0;
        r.skip(7, "FileRenameInformation.Reserved")?;
        let root_directory = r.u64("FileRenameInformation.RootDirectory")?;
        let len = r.u32("FileRenameInformation.FileNameLength")?;
        let name = slice_at(
            buf,
            "FileRenameInformation.FileName",
            Self::FIXED,
            len as usize,
        )?;
        Ok(Self {
            replace_if_exists,
            root_directory,
            file_name: from_utf16le("FileRenameInformation.FileName", name)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let name = utf16le(&self.file_name);
        out.put_u8(u8::from(self.replace_if_exists));
        out.put_zeros(7);
        out.put_u64(self.root_directory);
        out.put_u32(u32::try_from(name.len()).unwrap_or(u32::MAX));
        out.put(&name);
    }
}

/// FileAllInformation (MS-FSCC 2.4.2): Basic (40), Standard (24), Internal (8), EaSize (4),
/// AccessFlags (4), CurrentByteOffset (8), Mode (4), AlignmentRequirement (4), then
/// FileNameLength (4) and the name.
///
/// The name is informational (servers differ: Samba sends the share-relative path, Windows
/// the full path) and a reply cut short with STATUS_BUFFER_OVERFLOW holds only part of it, so
/// it is decoded leniently: clipped to the bytes present, bad UTF-16 replaced by U+FFFD.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileAllInformation {
    pub basic: FileBasicInformation,
    pub standard: FileStandardInformation,
    pub internal: FileInternalInformation,
    pub ea_size: u32,
    pub access_flags: u32,
    pub current_byte_offset: u64,
    pub mode: u32,
    pub alignment_requirement: u32,
    pub name: String,
}

impl FileAllInformation {
    pub const CLASS: u8 = info_class::FILE_ALL_INFORMATION;
    /// Bytes before the name.
    pub const FIXED: usize = 100;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let basic = FileBasicInformation::read(&mut r)?;
        let standard = FileStandardInformation::read(&mut r)?;
        let internal = FileInternalInformation::read(&mut r)?;
        let ea_size = r.u32("FileAllInformation.EaSize")?;
        let access_flags = r.u32("FileAllInformation.AccessFlags")?;
        let current_byte_offset = r.u64("FileAllInformation.CurrentByteOffset")?;
        let mode = r.u32("FileAllInformation.Mode")?;
        let alignment_requirement = r.u32("FileAllInformation.AlignmentRequirement")?;
        let len = r.u32("FileAllInformation.FileNameLength")? as usize;
        let present = len.min(r.remaining()) & !1;
        let name = r.bytes(present, "FileAllInformation.FileName")?;
        let units = name
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        let name = char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect();
        Ok(Self {
            basic,
            standard,
            internal,
            ea_size,
            access_flags,
            current_byte_offset,
            mode,
            alignment_requirement,
            name,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        self.basic.encode(out);
        self.standard.encode(out);
        self.internal.encode(out);
        out.put_u32(self.ea_size);
        out.put_u32(self.access_flags);
        out.put_u64(self.current_byte_offset);
        out.put_u32(self.mode);
        out.put_u32(self.alignment_requirement);
        let name = utf16le(&self.name);
        out.put_u32(u32::try_from(name.len()).unwrap_or(u32::MAX));
        out.put(&name);
    }
}

// ---------------------------------------------------------------------------------------------
// File system information classes (MS-FSCC 2.5)

/// FileFsVolumeInformation (MS-FSCC 2.5.9): VolumeCreationTime (8), VolumeSerialNumber (4),
/// VolumeLabelLength (4), SupportsObjects (1), Reserved (1), VolumeLabel.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileFsVolumeInformation {
    pub volume_creation_time: u64,
    pub volume_serial_number: u32,
    pub supports_objects: bool,
    pub volume_label: String,
}

impl FileFsVolumeInformation {
    pub const CLASS: u8 = fs_info_class::FILE_FS_VOLUME_INFORMATION;
    const FIXED: usize = 18;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let volume_creation_time = r.u64("FileFsVolumeInformation.VolumeCreationTime")?;
        let volume_serial_number = r.u32("FileFsVolumeInformation.VolumeSerialNumber")?;
        let len = r.u32("FileFsVolumeInformation.VolumeLabelLength")?;
        let supports_objects = r.u8("FileFsVolumeInformation.SupportsObjects")? != 0;
        r.skip(1, "FileFsVolumeInformation.Reserved")?;
        let label = slice_at(
            buf,
            "FileFsVolumeInformation.VolumeLabel",
            Self::FIXED,
            len as usize,
        )?;
        Ok(Self {
            volume_creation_time,
            volume_serial_number,
            supports_objects,
            volume_label: from_utf16le("FileFsVolumeInformation.VolumeLabel", label)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let label = utf16le(&self.volume_label);
        out.put_u64(self.volume_creation_time);
        out.put_u32(self.volume_serial_number);
        out.put_u32(u32::try_from(label.len()).unwrap_or(u32::MAX));
        out.put_u8(u8::from(self.supports_objects));
        out.put_u8(0);
        out.put(&label);
    }
}

/// FileFsSizeInformation (MS-FSCC 2.5.8): 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileFsSizeInformation {
    pub total_allocation_units: u64,
    pub available_allocation_units: u64,
    pub sectors_per_allocation_unit: u32,
    pub bytes_per_sector: u32,
}

impl FileFsSizeInformation {
    pub const CLASS: u8 = fs_info_class::FILE_FS_SIZE_INFORMATION;
    pub const SIZE: usize = 24;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        Ok(Self {
            total_allocation_units: r.u64("FileFsSizeInformation.TotalAllocationUnits")?,
            available_allocation_units: r.u64("FileFsSizeInformation.AvailableAllocationUnits")?,
            sectors_per_allocation_unit: r.u32("FileFsSizeInformation.SectorsPerAllocationUnit")?,
            bytes_per_sector: r.u32("FileFsSizeInformation.BytesPerSector")?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.total_allocation_units);
        out.put_u64(self.available_allocation_units);
        out.put_u32(self.sectors_per_allocation_unit);
        out.put_u32(self.bytes_per_sector);
    }
}

/// FileFsFullSizeInformation (MS-FSCC 2.5.4): 32 bytes; what `statfs` wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FileFsFullSizeInformation {
    pub total_allocation_units: u64,
    /// Units available to the calling user (quotas applied): `f_bavail`.
    pub caller_available_allocation_units: u64,
    /// Units free on the volume: `f_bfree`.
    pub actual_available_allocation_units: u64,
    pub sectors_per_allocation_unit: u32,
    pub bytes_per_sector: u32,
}

impl FileFsFullSizeInformation {
    pub const CLASS: u8 = fs_info_class::FILE_FS_FULL_SIZE_INFORMATION;
    pub const SIZE: usize = 32;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        Ok(Self {
            total_allocation_units: r.u64("FileFsFullSizeInformation.TotalAllocationUnits")?,
            caller_available_allocation_units: r
                .u64("FileFsFullSizeInformation.CallerAvailableAllocationUnits")?,
            actual_available_allocation_units: r
                .u64("FileFsFullSizeInformation.ActualAvailableAllocationUnits")?,
            sectors_per_allocation_unit: r
                .u32("FileFsFullSizeInformation.SectorsPerAllocationUnit")?,
            bytes_per_sector: r.u32("FileFsFullSizeInformation.BytesPerSector")?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u64(self.total_allocation_units);
        out.put_u64(self.caller_available_allocation_units);
        out.put_u64(self.actual_available_allocation_units);
        out.put_u32(self.sectors_per_allocation_unit);
        out.put_u32(self.bytes_per_sector);
    }
}

/// FileFsAttributeInformation (MS-FSCC 2.5.1): FileSystemAttributes (4),
/// MaximumComponentNameLength (4), FileSystemNameLength (4), FileSystemName ("NTFS").
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileFsAttributeInformation {
    /// [`fs_attributes`] bits.
    pub file_system_attributes: u32,
    pub maximum_component_name_length: u32,
    pub file_system_name: String,
}

impl FileFsAttributeInformation {
    pub const CLASS: u8 = fs_info_class::FILE_FS_ATTRIBUTE_INFORMATION;
    const FIXED: usize = 12;

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let file_system_attributes = r.u32("FileFsAttributeInformation.FileSystemAttributes")?;
        let maximum_component_name_length =
            r.u32("FileFsAttributeInformation.MaximumComponentNameLength")?;
        let len = r.u32("FileFsAttributeInformation.FileSystemNameLength")?;
        let name = slice_at(
            buf,
            "FileFsAttributeInformation.FileSystemName",
            Self::FIXED,
            len as usize,
        )?;
        Ok(Self {
            file_system_attributes,
            maximum_component_name_length,
            file_system_name: from_utf16le("FileFsAttributeInformation.FileSystemName", name)?,
        })
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let name = utf16le(&self.file_system_name);
        out.put_u32(self.file_system_attributes);
        out.put_u32(self.maximum_component_name_length);
        out.put_u32(u32::try_from(name.len()).unwrap_or(u32::MAX));
        out.put(&name);
    }
}

// ---------------------------------------------------------------------------------------------
// Directory entries (MS-FSCC 2.4.17 FileIdBothDirectoryInformation)

/// One FileIdBothDirectoryInformation entry (MS-FSCC 2.4.17). Fixed part 104 bytes:
/// NextEntryOffset (4), FileIndex (4), four times (8 each), EndOfFile (8), AllocationSize (8),
/// FileAttributes (4), FileNameLength (4), EaSize (4), ShortNameLength (1), Reserved1 (1),
/// ShortName (24), Reserved2 (2), FileId (8), then FileName.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DirEntry {
    pub file_index: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub end_of_file: u64,
    pub allocation_size: u64,
    pub file_attributes: u32,
    /// EaSize; for a reparse point the server puts the reparse tag here instead.
    pub ea_size: u32,
    /// 8.3 name, empty if none.
    pub short_name: String,
    /// The 64-bit file id (as FileInternalInformation.IndexNumber), 0 if the server has none.
    pub file_id: u64,
    pub name: String,
}

/// The spec's name for [`DirEntry`].
pub type FileIdBothDirectoryInformation = DirEntry;

impl DirEntry {
    pub const CLASS: u8 = info_class::FILE_ID_BOTH_DIRECTORY_INFORMATION;
    /// Bytes before FileName.
    pub const FIXED: usize = 104;
    const SHORT_NAME_BYTES: usize = 24;

    fn read(entry: &[u8]) -> Result<Self, DecodeError> {
        const W: &str = "FileIdBothDirectoryInformation";
        let mut r = Reader::new(entry);
        r.skip(4, "FileIdBothDirectoryInformation.NextEntryOffset")?;
        let file_index = r.u32("FileIdBothDirectoryInformation.FileIndex")?;
        let creation_time = r.u64("FileIdBothDirectoryInformation.CreationTime")?;
        let last_access_time = r.u64("FileIdBothDirectoryInformation.LastAccessTime")?;
        let last_write_time = r.u64("FileIdBothDirectoryInformation.LastWriteTime")?;
        let change_time = r.u64("FileIdBothDirectoryInformation.ChangeTime")?;
        let end_of_file = r.u64("FileIdBothDirectoryInformation.EndOfFile")?;
        let allocation_size = r.u64("FileIdBothDirectoryInformation.AllocationSize")?;
        let file_attributes = r.u32("FileIdBothDirectoryInformation.FileAttributes")?;
        let name_len = r.u32("FileIdBothDirectoryInformation.FileNameLength")?;
        let ea_size = r.u32("FileIdBothDirectoryInformation.EaSize")?;
        let short_len = usize::from(r.u8("FileIdBothDirectoryInformation.ShortNameLength")?);
        r.skip(1, "FileIdBothDirectoryInformation.Reserved1")?;
        let short = r.bytes(
            Self::SHORT_NAME_BYTES,
            "FileIdBothDirectoryInformation.ShortName",
        )?;
        r.skip(2, "FileIdBothDirectoryInformation.Reserved2")?;
        let file_id = r.u64("FileIdBothDirectoryInformation.FileId")?;
        let short = short.get(..short_len).ok_or(DecodeError::Invalid {
            what: "FileIdBothDirectoryInformation.ShortNameLength",
            value: short_len as u64,
        })?;
        let name = slice_at(entry, W, Self::FIXED, name_len as usize)?;
        Ok(Self {
            file_index,
            creation_time,
            last_access_time,
            last_write_time,
            change_time,
            end_of_file,
            allocation_size,
            file_attributes,
            ea_size,
            short_name: from_utf16le("FileIdBothDirectoryInformation.ShortName", short)?,
            file_id,
            name: from_utf16le("FileIdBothDirectoryInformation.FileName", name)?,
        })
    }

    /// Append this entry with NextEntryOffset 0 (the list encoder patches it).
    fn write(&self, out: &mut Vec<u8>) {
        let name = utf16le(&self.name);
        let mut short = utf16le(&self.short_name);
        short.truncate(Self::SHORT_NAME_BYTES);
        out.put_u32(0);
        out.put_u32(self.file_index);
        out.put_u64(self.creation_time);
        out.put_u64(self.last_access_time);
        out.put_u64(self.last_write_time);
        out.put_u64(self.change_time);
        out.put_u64(self.end_of_file);
        out.put_u64(self.allocation_size);
        out.put_u32(self.file_attributes);
        out.put_u32(u32::try_from(name.len()).unwrap_or(u32::MAX));
        out.put_u32(self.ea_size);
        out.put_u8(short.len() as u8); // at most 24 after the truncate above
        out.put_u8(0);
        out.put(&short);
        out.put_zeros(Self::SHORT_NAME_BYTES - short.len());
        out.put_u16(0);
        out.put_u64(self.file_id);
        out.put(&name);
    }
}

/// Parse a QUERY_DIRECTORY output buffer of FileIdBothDirectoryInformation entries.
///
/// Follows NextEntryOffset (MS-FSCC 2.4.17: "the number of bytes that MUST be skipped to get
/// to the next entry. A value of zero indicates that no other entries follow"). Each entry is
/// bounded by the next one (or the end of the buffer), so names cannot run into a neighbour;
/// a NextEntryOffset below the 104-byte fixed part or past the buffer is an error, which also
/// makes offsets strictly increasing. Alignment is not required. Names must be valid UTF-16
/// (they are used to open the entries again). An empty buffer is an empty list.
pub fn parse_id_both_directory(buf: &[u8]) -> Result<Vec<DirEntry>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while !buf.is_empty() {
        if out.len() == MAX_DIR_ENTRIES {
            return Err(DecodeError::TooLarge {
                what: "FileIdBothDirectoryInformation entries",
                value: out.len() as u64 + 1,
                limit: MAX_DIR_ENTRIES as u64,
            });
        }
        let next = Reader::at(buf, pos, "FileIdBothDirectoryInformation")?
            .u32("FileIdBothDirectoryInformation.NextEntryOffset")? as usize;
        let end = if next == 0 {
            buf.len()
        } else {
            if next < DirEntry::FIXED {
                return Err(DecodeError::Invalid {
                    what: "FileIdBothDirectoryInformation.NextEntryOffset",
                    value: next as u64,
                });
            }
            match pos.checked_add(next) {
                Some(e) if e < buf.len() => e,
                _ => {
                    return Err(DecodeError::OutOfBounds {
                        what: "FileIdBothDirectoryInformation.NextEntryOffset",
                        offset: pos,
                        len: next,
                        msg_len: buf.len(),
                    });
                }
            }
        };
        out.push(DirEntry::read(buf.get(pos..end).unwrap_or_default())?);
        if next == 0 {
            break;
        }
        pos = end;
    }
    Ok(out)
}

/// Encode entries as a server would: each entry 8-byte aligned, NextEntryOffset chaining them,
/// 0 in the last (test server).
pub fn encode_id_both_directory(entries: &[DirEntry], out: &mut Vec<u8>) {
    let base = out.len();
    let mut prev: Option<usize> = None;
    for e in entries {
        out.pad_to(base, 8);
        let this = out.len();
        if let Some(p) = prev {
            out.set_u32(p, u32::try_from(this - p).unwrap_or(u32::MAX));
        }
        prev = Some(this);
        e.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    #[test]
    fn filetime_special_values_and_round_trip() {
        assert_eq!(filetime_to_system_time(0), None);
        assert_eq!(filetime_to_system_time(FILETIME_FREEZE), None);
        assert_eq!(filetime_to_system_time(FILETIME_THAW), None);
        assert_eq!(
            filetime_to_system_time(FILETIME_UNIX_EPOCH),
            Some(UNIX_EPOCH)
        );
        // 2024-01-01T00:00:00Z = 1704067200 s.
        let ft = FILETIME_UNIX_EPOCH + 1_704_067_200 * TICKS_PER_SEC + 1234567;
        let st = filetime_to_system_time(ft).unwrap();
        assert_eq!(
            st.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_704_067_200, 123_456_700)
        );
        for ft in [
            1,
            42,
            FILETIME_UNIX_EPOCH - 1,
            FILETIME_UNIX_EPOCH + 1,
            ft,
            i64::MAX as u64,
        ] {
            if let Some(st) = filetime_to_system_time(ft) {
                assert_eq!(system_time_to_filetime(st), ft);
            }
        }
        assert_eq!(system_time_to_filetime(UNIX_EPOCH), FILETIME_UNIX_EPOCH);
        // Never produces a special value.
        let before_1601 = UNIX_EPOCH.checked_sub(Duration::from_secs(400 * 365 * 86400));
        if let Some(t) = before_1601 {
            assert_eq!(system_time_to_filetime(t), 1);
        }
    }

    #[test]
    fn basic_information_is_40_bytes_and_round_trips() {
        let b = FileBasicInformation {
            creation_time: 1,
            last_access_time: 2,
            last_write_time: 3,
            change_time: 4,
            file_attributes: attributes::ARCHIVE | attributes::READONLY,
        };
        let mut v = Vec::new();
        b.encode(&mut v);
        assert_eq!(v.len(), FileBasicInformation::SIZE);
        assert_eq!(&v[32..], &hex!("21000000 00000000"));
        assert_eq!(FileBasicInformation::decode(&v).unwrap(), b);
        assert!(FileBasicInformation::decode(&v[..39]).is_err());
    }

    #[test]
    fn fixed_classes_round_trip_and_reject_truncation() {
        let s = FileStandardInformation {
            allocation_size: 8192,
            end_of_file: 5000,
            number_of_links: 1,
            delete_pending: false,
            directory: true,
        };
        let mut v = Vec::new();
        s.encode(&mut v);
        assert_eq!(
            v,
            hex!("0020000000000000 8813000000000000 01000000 00 01 0000")
        );
        assert_eq!(FileStandardInformation::decode(&v).unwrap(), s);
        assert!(FileStandardInformation::decode(&v[..23]).is_err());

        let n = FileNetworkOpenInformation {
            creation_time: 1,
            last_access_time: 2,
            last_write_time: 3,
            change_time: 4,
            allocation_size: 5,
            end_of_file: 6,
            file_attributes: attributes::DIRECTORY,
        };
        let mut v = Vec::new();
        n.encode(&mut v);
        assert_eq!(v.len(), FileNetworkOpenInformation::SIZE);
        assert_eq!(FileNetworkOpenInformation::decode(&v).unwrap(), n);
        assert!(FileNetworkOpenInformation::decode(&v[..55]).is_err());

        let i = FileInternalInformation {
            index_number: 0xDEAD_BEEF,
        };
        let mut v = Vec::new();
        i.encode(&mut v);
        assert_eq!(FileInternalInformation::decode(&v).unwrap(), i);

        let e = FileEndOfFileInformation {
            end_of_file: 1 << 40,
        };
        let mut v = Vec::new();
        e.encode(&mut v);
        assert_eq!(v, hex!("0000000000010000"));
        assert_eq!(FileEndOfFileInformation::decode(&v).unwrap(), e);

        let d = FileDispositionInformation {
            delete_pending: true,
        };
        let mut v = Vec::new();
        d.encode(&mut v);
        assert_eq!(v, [1]);
        assert_eq!(FileDispositionInformation::decode(&v).unwrap(), d);
        assert!(FileDispositionInformation::decode(&[]).is_err());

        let fs = FileFsSizeInformation {
            total_allocation_units: 100,
            available_allocation_units: 50,
            sectors_per_allocation_unit: 8,
            bytes_per_sector: 512,
        };
        let mut v = Vec::new();
        fs.encode(&mut v);
        assert_eq!(v.len(), FileFsSizeInformation::SIZE);
        assert_eq!(FileFsSizeInformation::decode(&v).unwrap(), fs);

        let ff = FileFsFullSizeInformation {
            total_allocation_units: 100,
            caller_available_allocation_units: 40,
            actual_available_allocation_units: 50,
            sectors_per_allocation_unit: 8,
            bytes_per_sector: 512,
        };
        let mut v = Vec::new();
        ff.encode(&mut v);
        assert_eq!(v.len(), FileFsFullSizeInformation::SIZE);
        assert_eq!(FileFsFullSizeInformation::decode(&v).unwrap(), ff);
        assert!(FileFsFullSizeInformation::decode(&v[..31]).is_err());
    }

    /// MS-FSCC 2.4.37.2 layout: 1 + 7 reserved + 8 + 4 + name.
    #[test]
    fn rename_information_type_2_layout() {
        let r = FileRenameInformation {
            replace_if_exists: true,
            root_directory: 0,
            file_name: r"d\n".into(),
        };
        let mut v = Vec::new();
        r.encode(&mut v);
        assert_eq!(
            v,
            hex!("01 00000000000000 0000000000000000 06000000 6400 5c00 6e00")
        );
        assert_eq!(FileRenameInformation::decode(&v).unwrap(), r);
        let mut bad = v.clone();
        bad[16] = 0xFF;
        assert!(matches!(
            FileRenameInformation::decode(&bad),
            Err(DecodeError::OutOfBounds { .. })
        ));
        bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(FileRenameInformation::decode(&bad).is_err());
        assert!(FileRenameInformation::decode(&v[..19]).is_err());
    }

    #[test]
    fn all_information_round_trips_and_tolerates_a_clipped_name() {
        let a = FileAllInformation {
            basic: FileBasicInformation {
                creation_time: 9,
                file_attributes: 0x20,
                ..Default::default()
            },
            standard: FileStandardInformation {
                end_of_file: 3,
                number_of_links: 1,
                ..Default::default()
            },
            internal: FileInternalInformation { index_number: 77 },
            ea_size: 0,
            access_flags: 0x0012_019F,
            current_byte_offset: 0,
            mode: 0,
            alignment_requirement: 0,
            name: r"\dir\file".into(),
        };
        let mut v = Vec::new();
        a.encode(&mut v);
        assert_eq!(v.len(), FileAllInformation::FIXED + 18);
        assert_eq!(&v[96..100], &hex!("12000000"));
        assert_eq!(FileAllInformation::decode(&v).unwrap(), a);
        // STATUS_BUFFER_OVERFLOW: the buffer ends inside the name.
        let clipped = FileAllInformation::decode(&v[..FileAllInformation::FIXED + 7]).unwrap();
        assert_eq!(clipped.name, r"\di");
        assert_eq!(clipped.basic, a.basic);
        for n in 0..FileAllInformation::FIXED {
            assert!(FileAllInformation::decode(&v[..n]).is_err());
        }
    }

    #[test]
    fn fs_volume_and_attribute_round_trip() {
        let vol = FileFsVolumeInformation {
            volume_creation_time: 5,
            volume_serial_number: 0xCAFE,
            supports_objects: false,
            volume_label: "share".into(),
        };
        let mut v = Vec::new();
        vol.encode(&mut v);
        assert_eq!(&v[..18], &hex!("0500000000000000 feca0000 0a000000 00 00"));
        assert_eq!(FileFsVolumeInformation::decode(&v).unwrap(), vol);
        v[12] = 0xF0;
        assert!(FileFsVolumeInformation::decode(&v).is_err());

        let at = FileFsAttributeInformation {
            file_system_attributes: fs_attributes::CASE_SENSITIVE_SEARCH
                | fs_attributes::CASE_PRESERVED_NAMES
                | fs_attributes::UNICODE_ON_DISK,
            maximum_component_name_length: 255,
            file_system_name: "NTFS".into(),
        };
        let mut v = Vec::new();
        at.encode(&mut v);
        assert_eq!(v, hex!("07000000 ff000000 08000000 4e00 5400 4600 5300"));
        assert_eq!(FileFsAttributeInformation::decode(&v).unwrap(), at);
        v[8] = 0xFF;
        assert!(FileFsAttributeInformation::decode(&v).is_err());
    }

    fn entries() -> Vec<DirEntry> {
        vec![
            DirEntry {
                file_index: 0,
                creation_time: 1,
                last_access_time: 2,
                last_write_time: 3,
                change_time: 4,
                end_of_file: 0,
                allocation_size: 0,
                file_attributes: attributes::DIRECTORY,
                ea_size: 0,
                short_name: String::new(),
                file_id: 10,
                name: ".".into(),
            },
            DirEntry {
                name: "..".into(),
                file_id: 11,
                ..Default::default()
            },
            DirEntry {
                end_of_file: 123,
                allocation_size: 4096,
                file_attributes: attributes::ARCHIVE,
                short_name: "LONGFI~1.TXT".into(),
                file_id: 0x1_0000_0001,
                name: "long file name ✓.txt".into(),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn directory_entries_round_trip_and_are_aligned() {
        let es = entries();
        let mut buf = Vec::new();
        encode_id_both_directory(&es, &mut buf);
        // "." is 104 + 2 = 106 -> next at 112; ".." 104 + 4 = 108 -> next at 112 again.
        assert_eq!(&buf[..4], &hex!("70000000"));
        assert_eq!(&buf[112..116], &hex!("70000000"));
        assert_eq!(&buf[224..228], &hex!("00000000"));
        assert_eq!(buf[224 + 68], 24, "ShortNameLength of LONGFI~1.TXT");
        assert_eq!(parse_id_both_directory(&buf).unwrap(), es);
        assert!(parse_id_both_directory(&[]).unwrap().is_empty());
    }

    /// A single entry laid out by hand from MS-FSCC 2.4.17.
    #[test]
    fn golden_directory_entry() {
        let mut buf = Vec::new();
        buf.extend_from_slice(&hex!("00000000 07000000")); // NextEntryOffset, FileIndex
        for t in 1u64..=4 {
            buf.extend_from_slice(&t.to_le_bytes());
        }
        buf.extend_from_slice(&hex!("0500000000000000 0010000000000000")); // EOF, alloc
        buf.extend_from_slice(&hex!("20000000 02000000 00000000 00 00")); // attrs, len, ea, sn
        buf.extend_from_slice(&[0; 24]);
        buf.extend_from_slice(&hex!("0000 2a00000000000000 6100"));
        let e = &parse_id_both_directory(&buf).unwrap()[0];
        assert_eq!(e.file_index, 7);
        assert_eq!(e.last_write_time, 3);
        assert_eq!(e.end_of_file, 5);
        assert_eq!(e.allocation_size, 4096);
        assert_eq!(e.file_attributes, attributes::ARCHIVE);
        assert_eq!(e.file_id, 42);
        assert_eq!(e.name, "a");
        assert!(e.short_name.is_empty());
        let mut again = Vec::new();
        encode_id_both_directory(std::slice::from_ref(e), &mut again);
        assert_eq!(again, buf);
    }

    #[test]
    fn rejects_hostile_directory_buffers() {
        let mut buf = Vec::new();
        encode_id_both_directory(&entries(), &mut buf);
        for n in 1..buf.len() {
            assert!(parse_id_both_directory(&buf[..n]).is_err(), "prefix {n}");
        }
        let set32 = |b: &mut Vec<u8>, at: usize, v: u32| {
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        };
        // NextEntryOffset past the end, at the end, overflowing, or too small to advance.
        for next in [0x10_0000, buf.len() as u32, u32::MAX, 1, 103] {
            let mut b = buf.clone();
            set32(&mut b, 0, next);
            assert!(parse_id_both_directory(&b).is_err(), "next {next}");
        }
        // Name longer than its entry (would run into the next one).
        let mut b = buf.clone();
        set32(&mut b, 60, 10);
        assert!(matches!(
            parse_id_both_directory(&b),
            Err(DecodeError::OutOfBounds { .. })
        ));
        // FileNameLength overflowing.
        let mut b = buf.clone();
        set32(&mut b, 224 + 60, u32::MAX);
        assert!(parse_id_both_directory(&b).is_err());
        // ShortNameLength above 24; odd name length.
        let mut b = buf.clone();
        b[68] = 25;
        assert!(matches!(
            parse_id_both_directory(&b),
            Err(DecodeError::Invalid { .. })
        ));
        let mut b = buf;
        set32(&mut b, 60, 1);
        assert!(parse_id_both_directory(&b).is_err());
    }

    #[test]
    fn caps_the_entry_count() {
        let e = DirEntry {
            name: "x".into(),
            ..Default::default()
        };
        let mut buf = Vec::new();
        encode_id_both_directory(&vec![e; MAX_DIR_ENTRIES + 1], &mut buf);
        assert!(matches!(
            parse_id_both_directory(&buf),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn decoders_survive_mutation() {
        let mut dir = Vec::new();
        encode_id_both_directory(&entries(), &mut dir);
        let mut all = Vec::new();
        FileAllInformation {
            name: "abc".into(),
            ..Default::default()
        }
        .encode(&mut all);
        let mut seed = 0xC0FF_EE11_u32;
        for base in [dir, all] {
            for _ in 0..3000 {
                let mut x = base.clone();
                for _ in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let i = (seed as usize) % x.len();
                    x[i] = (seed >> 24) as u8;
                }
                let _ = parse_id_both_directory(&x);
                let _ = FileAllInformation::decode(&x);
                let _ = FileRenameInformation::decode(&x);
                let _ = FileFsVolumeInformation::decode(&x);
                let _ = FileFsAttributeInformation::decode(&x);
            }
        }
    }
}
