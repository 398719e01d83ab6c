//! Why a boot service (static HTTP, TFTP, DHCP) stopped or could not start, or why the
//! virtual address could not be moved. `follow::while_active` logs it and starts the service
//! again; the holder of the virtual address logs it and tries again.

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A socket or file step; `what` names it (and the port).
    #[error("{what}: {why}")]
    Io { what: String, why: std::io::Error },
    /// The task serving it ended abnormally.
    #[error("{what}: {why}")]
    Task {
        what: &'static str,
        why: tokio::task::JoinError,
    },
    #[error("binding the TFTP port {port}: {why}")]
    TftpBind { port: u16, why: async_tftp::Error },
    #[error("TFTP server: {0}")]
    Tftp(async_tftp::Error),
    #[error("loading the leases: {0}")]
    Leases(crate::store::StoreError),
    #[error("DHCP permits closed")]
    PermitsClosed,
    /// A command (`ip addr`, the `--virt-interface-script`, `arping`) did not finish in time.
    #[error("timed out")]
    TimedOut,
    #[error("{program:?} failed ({status}): {stderr}")]
    CommandFailed {
        program: std::ffi::OsString,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

impl ServiceError {
    /// `map_err` for a socket or file step; `what` names it.
    pub fn io(what: String) -> impl FnOnce(std::io::Error) -> Self {
        move |why| ServiceError::Io { what, why }
    }

    /// `map_err` for awaiting a task; `what` names it.
    pub fn task(what: &'static str) -> impl FnOnce(tokio::task::JoinError) -> Self {
        move |why| ServiceError::Task { what, why }
    }
}
