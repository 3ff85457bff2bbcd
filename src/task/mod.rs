//! Volume front ends: task files (`fusevol task up|down|docker-args`) and the definitions they
//! share with the Docker volume plugin.
//!
//! - [`yaml`]: a YAML document as a tree whose scalars keep their literal text;
//! - [`file`]: the task-file grammar (`container.volumes`, `container.mounts`; SONM
//!   `proto/volume.proto` and `volume/mount.go` `parseSpec`);
//! - [`spec`]: one volume definition → source, options and type for `fusevol mount`.
pub mod file;
pub mod spec;
pub mod yaml;

pub use file::{MountEntry, Task, TaskError, VolumeDef};
pub use spec::{Kind, Lookup, SpecError, VolumeSpec};
