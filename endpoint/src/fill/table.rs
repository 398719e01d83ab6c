//! DRP's models as data: each served collection's fields with their wire type and the value
//! DRP's server fills in when a client leaves one out. Read from DRP's own models (as
//! drppy-client 4.17 generates them): a required field there is never left absent here.

/// A field's wire type.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    Int,
    /// An RFC 3339 time.
    Time,
    /// Anything (free-form JSON, such as a param's `Schema`).
    Any,
    StrList,
    /// A map of string to string.
    StrMap,
    /// A map of string to any JSON value (`Params`, `Meta`).
    Map,
    /// A map of string to a list of strings (a tenant's `Members`).
    ListMap,
    /// An object with the listed fields.
    Struct(&'static [Field]),
    /// A list of such objects.
    StructList(&'static [Field]),
    /// A map of string to such objects.
    StructMap(&'static [Field]),
}

/// What an absent or null field becomes.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// Left absent (times, secrets, optional nested objects).
    No,
    /// The type's zero: `""`, `false`, `0`, `[]`, `{}`, or the struct with its own fills.
    Zero,
    Int(i64),
    Bool(bool),
    Str(&'static str),
    Strs(&'static [&'static str]),
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub fill: Fill,
}

const fn f(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        fill: Fill::Zero,
    }
}

/// A field that is type-checked but never filled.
const fn opt(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        fill: Fill::No,
    }
}

const fn def(name: &'static str, ty: Ty, fill: Fill) -> Field {
    Field { name, ty, fill }
}

use Ty::*;

/// Fields every stored DRP object carries (DRP's `Validation`, `Owned`, `Bundled`, `Meta`).
/// `Available`, `Validated` and `Errors` are the server's verdict and set on every write; the
/// times and authors come from the command (`fill::Stamp`).
pub const COMMON: &[Field] = &[
    f("Available", Bool),
    f("Validated", Bool),
    f("Errors", StrList),
    f("ReadOnly", Bool),
    f("Meta", Map),
    f("Bundle", Str),
    f("Endpoint", Str),
    opt("CreatedAt", Time),
    opt("CreatedBy", Str),
    opt("LastModifiedAt", Time),
    opt("LastModifiedBy", Str),
];

const TEMPLATE_INFO: &[Field] = &[
    f("Name", Str),
    f("Path", Str),
    opt("ID", Str),
    opt("Contents", Str),
    opt("Link", Str),
    opt("StartDelimiter", Str),
    opt("EndDelimiter", Str),
    opt("Meta", StrMap),
];

/// DRP names a claim's fields in lowercase; this API also reads `Scope`, `Action`, `Specific`.
const CLAIM: &[Field] = &[
    opt("scope", Str),
    opt("action", Str),
    opt("specific", Str),
    opt("Scope", Str),
    opt("Action", Str),
    opt("Specific", Str),
];

const DHCP_OPTION: &[Field] = &[f("Code", Int), f("Value", Str)];

const ARCH_INFO: &[Field] = &[
    f("BootParams", Str),
    f("Initrds", StrList),
    f("Kernel", Str),
    opt("IsoFile", Str),
    opt("IsoUrl", Str),
    opt("Loader", Str),
    opt("Sha256", Str),
];

const OS_INFO: &[Field] = &[
    f("Name", Str),
    opt("Family", Str),
    opt("Codename", Str),
    opt("Version", Str),
    opt("IsoFile", Str),
    opt("IsoSha256", Str),
    opt("IsoUrl", Str),
    f("SupportedArchitectures", StructMap(ARCH_INFO)),
];

const TASK_STACK: &[Field] = &[
    opt("CurrentJob", Str),
    opt("CurrentTask", Int),
    f("TaskList", StrList),
];

const ELEMENT: &[Field] = &[
    opt("ActualVersion", Str),
    f("Name", Str),
    opt("ReplaceWritable", Bool),
    f("Type", Str),
    f("Version", Str),
];

const FILE_DATA: &[Field] = &[
    opt("Explode", Bool),
    f("Path", Str),
    opt("Sha256Sum", Str),
    opt("Source", Str),
];

const POOL_TRANSITION: &[Field] = &[
    f("AddParameters", Map),
    f("AddProfiles", StrList),
    f("RemoveParameters", StrList),
    f("RemoveProfiles", StrList),
    opt("Workflow", Str),
    opt("Pipeline", Str),
    opt("Blueprint", Str),
];

const POOL_AUTO_FILL: &[Field] = &[
    opt("AcquirePool", Str),
    f("CreateParameters", Map),
    opt("MaxFree", Int),
    opt("MinFree", Int),
    opt("ReturnPool", Str),
    opt("UseAutoFill", Bool),
];

const MACHINE_FINGERPRINT: &[Field] = &[
    opt("CSNHash", Str),
    opt("CloudInstanceID", Str),
    f("MemoryIds", StrList),
    opt("SSNHash", Str),
    opt("SystemUUID", Str),
];

pub const PLUGIN: &[Field] = &[
    f("Name", Str),
    f("Provider", Str),
    f("Description", Str),
    f("Documentation", Str),
    f("Params", Map),
    f("PluginErrors", StrList),
    opt("Partial", Bool),
];

/// A machine. The runtime fields (`Workflow`, `Stage`, `BootEnv`, `Tasks`, `CurrentTask`,
/// `CurrentJob`, `Runnable`, `WorkflowComplete`) only get DRP's defaults here; the machine
/// runtime maintains them.
const MACHINE: &[Field] = &[
    f("Name", Str),
    f("Description", Str),
    f("Address", Str),
    f("Arch", Str),
    f("OS", Str),
    f("HardwareAddrs", StrList),
    f("Profiles", StrList),
    f("Params", Map),
    f("Workflow", Str),
    f("Stage", Str),
    f("BootEnv", Str),
    f("Context", Str),
    f("Pool", Str),
    f("Pipeline", Str),
    f("Tasks", StrList),
    def("CurrentTask", Int, Fill::Int(-1)),
    f("CurrentJob", Str),
    def("Runnable", Bool, Fill::Bool(true)),
    f("WorkflowComplete", Bool),
    f("JobState", Str),
    f("JobExitState", Str),
    f("JobResultErrors", StrList),
    f("TaskErrorStacks", StructList(TASK_STACK)),
    f("RetryTaskAttempt", Int),
    f("Locked", Bool),
    f("Partial", Bool),
    f("PoolAllocated", Bool),
    f("PoolStatus", Str),
    f("WorkOrderMode", Bool),
    f("PendingWorkOrders", Int),
    f("RunningWorkOrders", Int),
    opt("Fingerprint", Struct(MACHINE_FINGERPRINT)),
    opt("Secret", Str),
];

const PROFILE: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Params", Map),
    f("Profiles", StrList),
    f("Partial", Bool),
];

const PARAM: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Secure", Bool),
    opt("Schema", Any),
];

const STAGE: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("BootEnv", Str),
    f("Params", Map),
    f("Profiles", StrList),
    f("Tasks", StrList),
    f("Templates", StructList(TEMPLATE_INFO)),
    f("RequiredParams", StrList),
    f("OptionalParams", StrList),
    f("OutputParams", StrList),
    f("Reboot", Bool),
    f("RunnerWait", Bool),
    f("Partial", Bool),
];

const TASK: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Templates", StructList(TEMPLATE_INFO)),
    f("RequiredParams", StrList),
    f("OptionalParams", StrList),
    f("OutputParams", StrList),
    f("Prerequisites", StrList),
    f("ExtraClaims", StructList(CLAIM)),
    f("ExtraRoles", StrList),
    f("ExtraDuration", Int),
];

const WORKFLOW: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Stages", StrList),
];

const BOOTENV: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("OS", Struct(OS_INFO)),
    f("Templates", StructList(TEMPLATE_INFO)),
    f("Kernel", Str),
    f("Initrds", StrList),
    f("BootParams", Str),
    f("Loaders", StrMap),
    f("RequiredParams", StrList),
    f("OptionalParams", StrList),
    f("OnlyUnknown", Bool),
    opt("StartDelimiter", Str),
    opt("EndDelimiter", Str),
];

const TEMPLATE: &[Field] = &[
    f("Description", Str),
    f("Contents", Str),
    opt("StartDelimiter", Str),
    opt("EndDelimiter", Str),
];

const SUBNET: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Subnet", Str),
    f("Enabled", Bool),
    f("Proxy", Bool),
    f("Unmanaged", Bool),
    f("OnlyReservations", Bool),
    def("ActiveLeaseTime", Int, Fill::Int(60)),
    def("ReservedLeaseTime", Int, Fill::Int(7200)),
    def("Strategy", Str, Fill::Str("MAC")),
    def(
        "Pickers",
        StrList,
        Fill::Strs(&["hint", "nextFree", "mostExpired"]),
    ),
    f("Options", StructList(DHCP_OPTION)),
    f("Params", Map),
    f("Profiles", StrList),
    opt("ActiveStart", Str),
    opt("ActiveEnd", Str),
    opt("AllocateStart", Str),
    opt("AllocateEnd", Str),
    opt("NextServer", Str),
    opt("PrefixParameter", Str),
    opt("SkipDAD", Bool),
];

const RESERVATION: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Token", Str),
    def("Strategy", Str, Fill::Str("MAC")),
    f("Scoped", Bool),
    f("Options", StructList(DHCP_OPTION)),
    f("Params", Map),
    f("Profiles", StrList),
    opt("Allocated", Bool),
    opt("Duration", Int),
    opt("Machine", Str),
    opt("NextServer", Str),
    opt("Parameter", Str),
    opt("PrefixParameter", Str),
    opt("Subnet", Str),
    opt("SkipDAD", Bool),
];

const LEASE: &[Field] = &[
    f("Token", Str),
    def("Strategy", Str, Fill::Str("MAC")),
    f("State", Str),
    f("Options", StructList(DHCP_OPTION)),
    f("ProvidedOptions", StructList(DHCP_OPTION)),
    opt("Duration", Int),
    opt("ExpireTime", Time),
    opt("MachineUuid", Str),
    opt("NextServer", Str),
    opt("SkipBoot", Bool),
    opt("Via", Str),
];

const USER: &[Field] = &[
    f("Description", Str),
    f("Roles", StrList),
    opt("Secret", Str),
];

const ROLE: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Claims", StructList(CLAIM)),
];

const TENANT: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Members", ListMap),
    f("Users", StrList),
];

const POOL: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("ParentPool", Str),
    f("EnterActions", Struct(POOL_TRANSITION)),
    f("ExitActions", Struct(POOL_TRANSITION)),
    f("AllocateActions", Struct(POOL_TRANSITION)),
    f("ReleaseActions", Struct(POOL_TRANSITION)),
    f("AutoFill", Struct(POOL_AUTO_FILL)),
];

const CONTEXT: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Engine", Str),
    f("Image", Str),
];

/// A job; the runtime fills and maintains its state, this is only what a reader requires.
const JOB: &[Field] = &[
    f("Machine", Str),
    f("Task", Str),
    f("Stage", Str),
    f("Workflow", Str),
    f("BootEnv", Str),
    f("Context", Str),
    f("State", Str),
    f("ExitState", Str),
    f("Previous", Str),
    f("ResultErrors", StrList),
    f("ExtraClaims", StructList(CLAIM)),
    f("Archived", Bool),
    f("Current", Bool),
    f("Independent", Bool),
    opt("CurrentIndex", Int),
    opt("NextIndex", Int),
    opt("StartTime", Time),
    opt("EndTime", Time),
    opt("Token", Str),
];

const AVAILABLE_ACTION: &[Field] = &[
    opt("Command", Str),
    opt("Model", Str),
    opt("Provider", Str),
    f("OptionalParams", StrList),
    f("RequiredParams", StrList),
];

const PLUGIN_PROVIDER: &[Field] = &[
    f("Version", Str),
    f("Documentation", Str),
    f("OptionalParams", StrList),
    f("RequiredParams", StrList),
    f("AvailableActions", StructList(AVAILABLE_ACTION)),
    f("StoreObjects", Map),
    opt("AutoStart", Bool),
    opt("HasPublish", Bool),
    opt("IgnoreEvents", Bool),
    opt("PluginVersion", Int),
    opt("Content", Str),
];

const CATALOG_ITEM: &[Field] = &[
    f("Name", Str),
    f("Version", Str),
    f("ActualVersion", Str),
    f("ContentType", Str),
    f("Type", Str),
    f("Source", Str),
    f("NOJQSource", Str),
    f("Shasum256", StrMap),
    f("HotFix", Bool),
    f("Tip", Bool),
];

pub const VERSION_SET: &[Field] = &[
    f("Description", Str),
    f("Documentation", Str),
    f("Apply", Bool),
    f("DRPVersion", Str),
    f("DRPUXVersion", Str),
    f("Components", StructList(ELEMENT)),
    f("Plugins", StructList(PLUGIN)),
    f("Prefs", StrMap),
    f("Global", Map),
    f("Files", StructList(FILE_DATA)),
];

/// The fields of a collection's model (beside `COMMON` and its key), by collection name.
pub fn fields(collection: &str) -> &'static [Field] {
    match collection {
        "machines" => MACHINE,
        "profiles" => PROFILE,
        "params" => PARAM,
        "stages" => STAGE,
        "tasks" => TASK,
        "workflows" => WORKFLOW,
        "bootenvs" => BOOTENV,
        "templates" => TEMPLATE,
        "subnets" => SUBNET,
        "reservations" => RESERVATION,
        "leases" => LEASE,
        "users" => USER,
        "roles" => ROLE,
        "tenants" => TENANT,
        "pools" => POOL,
        "contexts" => CONTEXT,
        "jobs" => JOB,
        "plugin_providers" => PLUGIN_PROVIDER,
        "plugins" => PLUGIN,
        "catalog_items" => CATALOG_ITEM,
        "version_sets" => VERSION_SET,
        _ => &[],
    }
}
