//! Placement domain types: providers, inventories, the standard resource classes and
//! traits, and the parsers for `resources=` and `required=` query strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::http::error::{ApiError, ApiResult};

/// Resource classes every Placement knows (os-resource-classes).
pub(crate) const STANDARD_CLASSES: &[&str] = &[
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

/// x86 CPU feature traits (os-traits `HW_CPU_X86_*`) with the /proc/cpuinfo flag
/// that reveals each one.
pub(crate) const X86_CPU_TRAITS: &[(&str, &str)] = &[
    ("HW_CPU_X86_AVX", "avx"),
    ("HW_CPU_X86_AVX2", "avx2"),
    ("HW_CPU_X86_CLMUL", "pclmulqdq"),
    ("HW_CPU_X86_FMA3", "fma"),
    ("HW_CPU_X86_FMA4", "fma4"),
    ("HW_CPU_X86_F16C", "f16c"),
    ("HW_CPU_X86_MMX", "mmx"),
    ("HW_CPU_X86_SSE", "sse"),
    ("HW_CPU_X86_SSE2", "sse2"),
    ("HW_CPU_X86_SSE3", "pni"),
    ("HW_CPU_X86_SSSE3", "ssse3"),
    ("HW_CPU_X86_SSE41", "sse4_1"),
    ("HW_CPU_X86_SSE42", "sse4_2"),
    ("HW_CPU_X86_SSE4A", "sse4a"),
    ("HW_CPU_X86_XOP", "xop"),
    ("HW_CPU_X86_3DNOW", "3dnowprefetch"),
    ("HW_CPU_X86_AVX512F", "avx512f"),
    ("HW_CPU_X86_AVX512CD", "avx512cd"),
    ("HW_CPU_X86_AVX512PF", "avx512pf"),
    ("HW_CPU_X86_AVX512ER", "avx512er"),
    ("HW_CPU_X86_AVX512VL", "avx512vl"),
    ("HW_CPU_X86_AVX512BW", "avx512bw"),
    ("HW_CPU_X86_AVX512DQ", "avx512dq"),
    ("HW_CPU_X86_AVX512VNNI", "avx512_vnni"),
    ("HW_CPU_X86_AVX512VBMI", "avx512vbmi"),
    ("HW_CPU_X86_AVX512IFMA", "avx512ifma"),
    ("HW_CPU_X86_AVX512VBMI2", "avx512_vbmi2"),
    ("HW_CPU_X86_AVX512BITALG", "avx512_bitalg"),
    ("HW_CPU_X86_AVX512VAES", "vaes"),
    ("HW_CPU_X86_AVX512GFNI", "gfni"),
    ("HW_CPU_X86_AVX512VPCLMULQDQ", "vpclmulqdq"),
    ("HW_CPU_X86_AVX512VPOPCNTDQ", "avx512_vpopcntdq"),
    ("HW_CPU_X86_ABM", "abm"),
    ("HW_CPU_X86_BMI", "bmi1"),
    ("HW_CPU_X86_BMI2", "bmi2"),
    ("HW_CPU_X86_TBM", "tbm"),
    ("HW_CPU_X86_AESNI", "aes"),
    ("HW_CPU_X86_SHA", "sha_ni"),
    ("HW_CPU_X86_MPX", "mpx"),
    ("HW_CPU_X86_SGX", "sgx"),
    ("HW_CPU_X86_TSX", "rtm"),
    ("HW_CPU_X86_VMX", "vmx"),
    ("HW_CPU_X86_SVM", "svm"),
    ("HW_CPU_X86_PDPE1GB", "pdpe1gb"),
    ("HW_CPU_X86_STIBP", "stibp"),
    ("HW_CPU_X86_AMX_BF16", "amx_bf16"),
    ("HW_CPU_X86_AMX_INT8", "amx_int8"),
    ("HW_CPU_X86_AMX_TILE", "amx_tile"),
];

/// The other standard traits served (a subset of os-traits).
pub(crate) const OTHER_TRAITS: &[&str] = &[
    "COMPUTE_ACCELERATORS",
    "COMPUTE_ARCH_AARCH64",
    "COMPUTE_ARCH_X86_64",
    "COMPUTE_CONFIG_DRIVE_REGENERATION",
    "COMPUTE_DEVICE_TAGGING",
    "COMPUTE_FIRMWARE_BIOS",
    "COMPUTE_FIRMWARE_UEFI",
    "COMPUTE_GRAPHICS_MODEL_BOCHS",
    "COMPUTE_GRAPHICS_MODEL_CIRRUS",
    "COMPUTE_GRAPHICS_MODEL_NONE",
    "COMPUTE_GRAPHICS_MODEL_QXL",
    "COMPUTE_GRAPHICS_MODEL_VGA",
    "COMPUTE_GRAPHICS_MODEL_VIRTIO",
    "COMPUTE_IMAGE_TYPE_AKI",
    "COMPUTE_IMAGE_TYPE_AMI",
    "COMPUTE_IMAGE_TYPE_ARI",
    "COMPUTE_IMAGE_TYPE_ISO",
    "COMPUTE_IMAGE_TYPE_QCOW2",
    "COMPUTE_IMAGE_TYPE_RAW",
    "COMPUTE_IMAGE_TYPE_VDI",
    "COMPUTE_IMAGE_TYPE_VHD",
    "COMPUTE_IMAGE_TYPE_VHDX",
    "COMPUTE_IMAGE_TYPE_VMDK",
    "COMPUTE_MIGRATE_AUTO_CONVERGE",
    "COMPUTE_MIGRATE_POST_COPY",
    "COMPUTE_NET_ATTACH_INTERFACE",
    "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG",
    "COMPUTE_NET_VIF_MODEL_E1000",
    "COMPUTE_NET_VIF_MODEL_E1000E",
    "COMPUTE_NET_VIF_MODEL_RTL8139",
    "COMPUTE_NET_VIF_MODEL_VIRTIO",
    "COMPUTE_NODE",
    "COMPUTE_RESCUE_BFV",
    "COMPUTE_SAME_HOST_COLD_MIGRATE",
    "COMPUTE_SECURITY_TPM_2_0",
    "COMPUTE_SECURITY_UEFI_SECURE_BOOT",
    "COMPUTE_STATUS_DISABLED",
    "COMPUTE_STORAGE_BUS_FDC",
    "COMPUTE_STORAGE_BUS_IDE",
    "COMPUTE_STORAGE_BUS_SATA",
    "COMPUTE_STORAGE_BUS_SCSI",
    "COMPUTE_STORAGE_BUS_USB",
    "COMPUTE_STORAGE_BUS_VIRTIO",
    "COMPUTE_TRUSTED_CERTS",
    "COMPUTE_VOLUME_ATTACH",
    "COMPUTE_VOLUME_ATTACH_WITH_TAG",
    "COMPUTE_VOLUME_EXTEND",
    "COMPUTE_VOLUME_MULTI_ATTACH",
    "HW_ARCH_AARCH64",
    "HW_ARCH_X86_64",
    "HW_NIC_SRIOV",
    "MISC_SHARES_VIA_AGGREGATE",
    "STORAGE_DISK_HDD",
    "STORAGE_DISK_SSD",
];

/// Largest integer Placement stores for any amount (its DB columns are 32-bit).
pub(crate) const MAX_INT: i64 = 2_147_483_647;

pub(crate) fn is_standard_class(name: &str) -> bool {
    STANDARD_CLASSES.contains(&name)
}

pub(crate) fn is_standard_trait(name: &str) -> bool {
    OTHER_TRAITS.contains(&name) || X86_CPU_TRAITS.iter().any(|(t, _)| *t == name)
}

/// Every standard trait name, sorted.
pub(crate) fn standard_traits() -> Vec<String> {
    let mut all: Vec<String> = OTHER_TRAITS
        .iter()
        .map(|s| s.to_string())
        .chain(X86_CPU_TRAITS.iter().map(|(t, _)| t.to_string()))
        .collect();
    all.sort();
    all
}

/// `CUSTOM_` followed by `A-Z0-9_`, at most 255 characters, as Placement's schema says.
pub(crate) fn is_custom_name(name: &str) -> bool {
    name.len() <= 255
        && name.len() > "CUSTOM_".len()
        && name.starts_with("CUSTOM_")
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// A resource provider as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provider {
    pub uuid: String,
    pub name: String,
    pub generation: i64,
    pub parent_uuid: Option<String>,
    pub root_uuid: String,
}

/// One inventory record of a provider; also what the compute service reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InventorySpec {
    pub resource_class: String,
    pub total: i64,
    pub reserved: i64,
    pub min_unit: i64,
    pub max_unit: i64,
    pub step_size: i64,
    pub allocation_ratio: f64,
}

impl InventorySpec {
    /// `(total - reserved) * allocation_ratio`, what allocations may add up to.
    pub(crate) fn capacity(&self) -> i64 {
        ((self.total - self.reserved) as f64 * self.allocation_ratio) as i64
    }

    /// The amounts' own rules; `reserved_can_be_total` from microversion 1.26.
    pub(crate) fn validate(&self, provider: &str, reserved_can_be_total: bool) -> ApiResult<()> {
        let ints = [
            ("total", self.total, 1),
            ("reserved", self.reserved, 0),
            ("min_unit", self.min_unit, 1),
            ("max_unit", self.max_unit, 1),
            ("step_size", self.step_size, 1),
        ];
        for (field, v, min) in ints {
            if v < min || v > MAX_INT {
                return Err(ApiError::bad_request(format!(
                    "JSON does not validate: {field} of {} must be between {min} and {MAX_INT}, got {v}",
                    self.resource_class
                )));
            }
        }
        if !(self.allocation_ratio > 0.0 && self.allocation_ratio <= 3.4e38) {
            return Err(ApiError::bad_request(format!(
                "JSON does not validate: allocation_ratio of {} must be greater than 0, got {}",
                self.resource_class, self.allocation_ratio
            )));
        }
        if self.min_unit > self.max_unit {
            return Err(ApiError::bad_request(format!(
                "Unable to update inventory for resource provider {provider}: min_unit ({}) \
                 of {} is greater than max_unit ({}).",
                self.min_unit, self.resource_class, self.max_unit
            )));
        }
        let too_much = if reserved_can_be_total {
            self.reserved > self.total
        } else {
            self.reserved >= self.total
        };
        if too_much {
            let than = if reserved_can_be_total {
                "greater than"
            } else {
                "greater than or equal to"
            };
            return Err(ApiError::bad_request(format!(
                "Unable to update inventory for resource provider {provider}: Invalid inventory \
                 for '{}' on resource provider '{provider}'. The reserved value is {than} total.",
                self.resource_class
            )));
        }
        Ok(())
    }
}

/// An inventory body without its class: the JSON fields with Placement's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InventoryFields {
    pub total: i64,
    #[serde(default)]
    pub reserved: i64,
    #[serde(default = "one")]
    pub min_unit: i64,
    #[serde(default = "max_int")]
    pub max_unit: i64,
    #[serde(default = "one")]
    pub step_size: i64,
    #[serde(default = "ratio")]
    pub allocation_ratio: f64,
}

fn one() -> i64 {
    1
}
fn max_int() -> i64 {
    MAX_INT
}
fn ratio() -> f64 {
    1.0
}

impl InventoryFields {
    pub(crate) fn with_class(self, resource_class: String) -> InventorySpec {
        InventorySpec {
            resource_class,
            total: self.total,
            reserved: self.reserved,
            min_unit: self.min_unit,
            max_unit: self.max_unit,
            step_size: self.step_size,
            allocation_ratio: self.allocation_ratio,
        }
    }
}

/// Per-provider allocations of one consumer: provider -> class -> amount.
pub(crate) type ProviderResources = BTreeMap<String, BTreeMap<String, i64>>;

/// What a consumer's allocations are replaced with.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerAllocations {
    pub consumer: String,
    pub project_id: String,
    pub user_id: String,
    /// `Some(None)`: the caller believes the consumer is new; `None`: not checked
    /// (microversions before 1.28).
    pub consumer_generation: Option<Option<i64>>,
    pub allocations: ProviderResources,
}

/// Parses `VCPU:1,MEMORY_MB:512` into (class, amount) pairs.
pub(crate) fn parse_resources(s: &str) -> ApiResult<BTreeMap<String, i64>> {
    let bad = || {
        ApiError::bad_request(format!(
            "Badly formed resources parameter. Expected resources query string \
             parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {s}."
        ))
    };
    let mut out = BTreeMap::new();
    for part in s.split(',') {
        let (class, amount) = part.split_once(':').ok_or_else(bad)?;
        let class = class.trim();
        if class.is_empty() {
            return Err(bad());
        }
        let amount: i64 = amount.trim().parse().map_err(|_| bad())?;
        if amount < 1 {
            return Err(ApiError::bad_request(format!(
                "Requested resource {class} expected positive integer amount. Got: {amount}."
            )));
        }
        if out.insert(class.to_owned(), amount).is_some() {
            return Err(ApiError::bad_request(format!(
                "Invalid input: resource class {class} appears more than once in {s}."
            )));
        }
    }
    Ok(out)
}

/// Traits a request requires and forbids (`HW_CPU_X86_AVX,!CUSTOM_SLOW`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TraitFilter {
    pub required: Vec<String>,
    pub forbidden: Vec<String>,
}

/// Parses a `required=` value; `!` (forbidden) needs microversion 1.22.
pub(crate) fn parse_required(s: &str, allow_forbidden: bool) -> ApiResult<TraitFilter> {
    let mut f = TraitFilter::default();
    for t in s.split(',').map(str::trim) {
        match t.strip_prefix('!') {
            Some(name) if allow_forbidden && !name.is_empty() => f.forbidden.push(name.to_owned()),
            _ if t.is_empty() || t.starts_with('!') => {
                return Err(ApiError::bad_request(format!(
                    "Invalid query string parameters: Expected 'required' parameter value \
                     of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got: {s}"
                )));
            }
            _ => f.required.push(t.to_owned()),
        }
    }
    Ok(f)
}

/// Parses `member_of=in:a,b` or `member_of=a` into aggregate UUIDs (any of them).
pub(crate) fn parse_member_of(s: &str) -> ApiResult<Vec<String>> {
    let list = s.strip_prefix("in:").unwrap_or(s);
    let out: Vec<String> = list.split(',').map(|a| a.trim().to_owned()).collect();
    if out.iter().any(|a| uuid::Uuid::parse_str(a).is_err()) {
        return Err(ApiError::bad_request(format!(
            "Invalid query string parameters: Expected 'member_of' parameter to contain \
             valid UUID(s). Got: {s}"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_parse() {
        let r = parse_resources("VCPU:1,MEMORY_MB:512,DISK_GB:1").expect("valid");
        assert_eq!(r["VCPU"], 1);
        assert_eq!(r["MEMORY_MB"], 512);
        assert_eq!(r.len(), 3);
        for bad in [
            "",
            "VCPU",
            "VCPU:",
            ":1",
            "VCPU:x",
            "VCPU:0",
            "VCPU:-1",
            "VCPU:1,",
            "VCPU:1,VCPU:2",
        ] {
            assert!(
                matches!(parse_resources(bad), Err(ApiError::BadRequest(_))),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn required_parse() {
        let f = parse_required("HW_CPU_X86_AVX,!CUSTOM_SLOW", true).expect("valid");
        assert_eq!(f.required, ["HW_CPU_X86_AVX"]);
        assert_eq!(f.forbidden, ["CUSTOM_SLOW"]);
        assert!(parse_required("!CUSTOM_SLOW", false).is_err());
        assert!(parse_required("A,,B", true).is_err());
        assert!(parse_required("!", true).is_err());
    }

    #[test]
    fn custom_names() {
        assert!(is_custom_name("CUSTOM_GOLD_1"));
        assert!(!is_custom_name("CUSTOM_"));
        assert!(!is_custom_name("CUSTOM_gold"));
        assert!(!is_custom_name("GOLD"));
        assert!(!is_custom_name("CUSTOM_A-B"));
        assert!(is_standard_class("VCPU") && !is_standard_class("CUSTOM_X"));
        assert!(is_standard_trait("HW_CPU_X86_AVX2") && is_standard_trait("COMPUTE_NODE"));
    }

    #[test]
    fn inventory_rules() {
        let mut inv = InventorySpec {
            resource_class: "VCPU".into(),
            total: 4,
            reserved: 0,
            min_unit: 1,
            max_unit: 4,
            step_size: 1,
            allocation_ratio: 16.0,
        };
        assert_eq!(inv.capacity(), 64);
        inv.validate("p", false).expect("valid");
        inv.reserved = 4;
        assert!(inv.validate("p", false).is_err());
        inv.validate("p", true)
            .expect("1.26 allows reserved == total");
        inv.reserved = 0;
        inv.min_unit = 5;
        assert!(inv.validate("p", true).is_err());
        inv.min_unit = 1;
        inv.allocation_ratio = 0.0;
        assert!(inv.validate("p", true).is_err());
    }

    #[test]
    fn member_of_parse() {
        let a = "7b8a5b9e-6f60-4bd4-9d10-7f1b2f0f8c11";
        assert_eq!(parse_member_of(&format!("in:{a}")).expect("ok"), [a]);
        assert!(parse_member_of("in:nope").is_err());
    }
}
