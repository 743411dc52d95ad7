//! The one policy table: who may read, change or administer an object, for every
//! service. Each rule carries the name the real service's oslo.policy defaults give
//! it, so a rule here can be compared line by line with Nova's, Neutron's, Cinder's,
//! Glance's or Heat's `policy.yaml` defaults (the "new defaults", enforced by default
//! since 2023.2/2024.1: project reader, project member, admin).
//!
//! Services do not write `ctx.is_admin() || ctx.project_id() == ...` themselves; they
//! ask a rule here. Where the services genuinely differ (Nova hides another
//! project's object behind 404, Heat answers 403 for another tenant's URL), the
//! difference is in the callers' fault, not in who is allowed.

use super::context::{NamedRef, RequestContext, Scope};
use super::error::{ApiError, ApiResult};

/// The role a project-scoped rule asks of the caller in the owning project. Roles
/// imply each other as Keystone's default role hierarchy says: admin ⊇ member ⊇ reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Reader,
    Member,
    /// Keystone's `manager` role (2024.2): a project's manager, between member and admin.
    Manager,
}

/// A default check string, as oslo.policy writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// `role:admin` (`context_is_admin`): the admin role, on any scope.
    Admin,
    /// `role:admin or (role:<role> and project_id:%(project_id)s)`.
    AdminOrProject(Role),
    /// `role:admin or role:service`: an administrator or another service's user.
    AdminOrService,
    /// `role:reader and system_scope:all`: a reader of the whole system.
    SystemReader,
    /// `role:service`: another service's user.
    Service,
    /// `user_id:%(target.user_id)s`: the user the object belongs to (Keystone's
    /// credentials, trusts, application credentials, tokens, the user itself).
    OwnerUser,
    /// `project_id:%(target.project.id)s`: a token scoped to the object's project,
    /// whatever its roles.
    OwnProject,
    /// `token.domain.id:%(target.domain.id)s`: the caller's user, project or domain
    /// scope lies in the target domain.
    OwnDomain,
    /// `a or b or ...`: passes when one of them does.
    AnyOf(&'static [Check]),
}

/// What a rule is checked against: the owning project, user or domain of the object,
/// where it has one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Target<'a> {
    pub project: Option<&'a str>,
    pub user: Option<&'a str>,
    pub domain: Option<&'a str>,
}

impl<'a> Target<'a> {
    pub(crate) fn user(id: &'a str) -> Target<'a> {
        Target {
            user: Some(id),
            ..Target::default()
        }
    }

    pub(crate) fn project(id: &'a str) -> Target<'a> {
        Target {
            project: Some(id),
            ..Target::default()
        }
    }

    pub(crate) fn domain(id: &'a str) -> Target<'a> {
        Target {
            domain: Some(id),
            ..Target::default()
        }
    }
}

impl Check {
    fn passes(&self, ctx: &RequestContext, target: Target<'_>) -> bool {
        let admin = ctx.has_role("admin");
        match *self {
            Check::Admin => admin,
            Check::AdminOrService => admin || ctx.has_role("service"),
            Check::AdminOrProject(role) => {
                let has_role = match role {
                    Role::Reader => {
                        ctx.has_role("reader") || ctx.has_role("member") || ctx.has_role("manager")
                    }
                    Role::Member => ctx.has_role("member") || ctx.has_role("manager"),
                    Role::Manager => ctx.has_role("manager"),
                };
                admin
                    || (has_role
                        && ctx.project_id().is_some()
                        && target.project.is_none_or(|o| ctx.project_id() == Some(o)))
            }
            Check::SystemReader => ctx.scope == Scope::System && ctx.can_read(),
            Check::Service => ctx.has_role("service"),
            Check::OwnProject => target.project.is_some() && ctx.project_id() == target.project,
            Check::OwnerUser => target.user == Some(ctx.user.id.as_str()),
            Check::OwnDomain => target.domain.is_some_and(|d| {
                ctx.user_domain.id == d
                    || matches!(&ctx.scope,
                        Scope::Project { domain, .. } | Scope::Domain(domain) if domain.id == d)
            }),
            Check::AnyOf(checks) => checks.iter().any(|c| c.passes(ctx, target)),
        }
    }
}

/// One row of the table: the service, the real service's policy name and its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub service: &'static str,
    pub name: &'static str,
    pub check: Check,
}

impl Rule {
    const fn new(service: &'static str, name: &'static str, check: Check) -> Rule {
        Rule {
            service,
            name,
            check,
        }
    }

    /// Whether the caller passes this rule for an object owned by `owner` (None for
    /// objects no project owns; project rules then ask for the role in any project).
    pub(crate) fn allows(&self, ctx: &RequestContext, owner: Option<&str>) -> bool {
        self.allows_target(
            ctx,
            Target {
                project: owner,
                ..Target::default()
            },
        )
    }

    /// Whether the caller passes this rule for an object with these owners.
    pub(crate) fn allows_target(&self, ctx: &RequestContext, target: Target<'_>) -> bool {
        self.check.passes(ctx, target)
    }

    /// `allows_target`, or the 403 every service answers when its policy refuses.
    pub(crate) fn enforce_target(&self, ctx: &RequestContext, target: Target<'_>) -> ApiResult<()> {
        if self.allows_target(ctx, target) {
            Ok(())
        } else {
            tracing::debug!(rule = self.name, service = self.service, "policy refused");
            Err(ApiError::forbidden())
        }
    }

    /// `allows` for a caller known by its roles on `project` rather than by a token:
    /// an S3 request signed with an EC2 credential (the credential's project and the
    /// roles its user holds there).
    pub(crate) fn allows_roles(
        &self,
        roles: &[String],
        project: &str,
        owner: Option<&str>,
    ) -> bool {
        let named = |id: &str| NamedRef {
            id: id.to_owned(),
            name: id.to_owned(),
        };
        let caller = RequestContext {
            scope: Scope::Project {
                project: named(project),
                domain: NamedRef::default(),
            },
            roles: roles.iter().map(|r| named(r)).collect(),
            ..RequestContext::default()
        };
        self.allows(&caller, owner)
    }

    /// `allows`, or a 403 naming the rule in the service's own words (Nova's
    /// "Policy doesn't allow ... to be performed.", Neutron's "(...) is disallowed by
    /// policy").
    pub(crate) fn enforce_named(&self, ctx: &RequestContext, owner: Option<&str>) -> ApiResult<()> {
        if self.allows(ctx, owner) {
            return Ok(());
        }
        tracing::debug!(rule = self.name, service = self.service, "policy refused");
        Err(ApiError::Forbidden(match self.service {
            "compute" => format!("Policy doesn't allow {} to be performed.", self.name),
            "network" => format!("(rule:{}) is disallowed by policy", self.name),
            _ => format!("Policy does not allow {} to be performed.", self.name),
        }))
    }

    /// `allows`, or the 403 every service answers when its policy refuses.
    pub(crate) fn enforce(&self, ctx: &RequestContext, owner: Option<&str>) -> ApiResult<()> {
        if self.allows(ctx, owner) {
            Ok(())
        } else {
            tracing::debug!(rule = self.name, service = self.service, "policy refused");
            Err(ApiError::forbidden())
        }
    }
}

use Check::{
    Admin, AdminOrProject, AdminOrService, AnyOf, OwnDomain, OwnProject, OwnerUser, Service,
    SystemReader,
};
use Role::{Manager, Member, Reader};

/// `context_is_admin`: the cloud administrator.
pub(crate) const ADMIN: Rule = Rule::new("*", "context_is_admin", Admin);
/// A reader (or better) of the owning project, or an admin: every service's
/// `project_reader_or_admin` base rule.
pub(crate) const PROJECT_READER_OR_ADMIN: Rule =
    Rule::new("*", "project_reader_or_admin", AdminOrProject(Reader));
/// A member of the owning project, or an admin: `project_member_or_admin`.
pub(crate) const PROJECT_MEMBER_OR_ADMIN: Rule =
    Rule::new("*", "project_member_or_admin", AdminOrProject(Member));

// --- Nova (nova/policies/base.py) ---
/// `os_compute_api:servers:show` and the other project reads (PROJECT_READER_OR_ADMIN).
pub(crate) const COMPUTE_READ: Rule =
    Rule::new("compute", "project_reader_or_admin", AdminOrProject(Reader));
/// `os_compute_api:servers:update`, actions... (PROJECT_MEMBER_OR_ADMIN).
pub(crate) const COMPUTE_WRITE: Rule =
    Rule::new("compute", "project_member_or_admin", AdminOrProject(Member));
/// `os_compute_api:servers:create:forced_host` (`host` / `availability_zone` `az:host`).
pub(crate) const COMPUTE_FORCED_HOST: Rule = Rule::new(
    "compute",
    "os_compute_api:servers:create:forced_host",
    Admin,
);
/// `compute:servers:create:requested_destination` (`host` / `hypervisor_hostname`, 2.74).
pub(crate) const COMPUTE_REQUESTED_DESTINATION: Rule = Rule::new(
    "compute",
    "compute:servers:create:requested_destination",
    Admin,
);
/// `os_compute_api:os-shelve:unshelve_to_host` (2.91): choosing the unshelve host.
pub(crate) const COMPUTE_UNSHELVE_TO_HOST: Rule = Rule::new(
    "compute",
    "os_compute_api:os-shelve:unshelve_to_host",
    Admin,
);
/// `os_compute_api:os-server-external-events:create`: the network service's calls.
pub(crate) const COMPUTE_EXTERNAL_EVENTS: Rule = Rule::new(
    "compute",
    "os_compute_api:os-server-external-events:create",
    AdminOrService,
);
/// Where Nova asks `context.is_admin` (the `context_is_admin` rule) rather than a
/// named policy: acting on a locked server (`check_instance_lock`), private flavors
/// and the flavor list's `is_public` filter, the nova-network proxies' admin fields
/// and `all_tenants`, a server fault's details (`fault.code == 500`), a port or
/// interface on an external network that is not shared (Nova's neutron API refuses
/// it to non-admins).
pub(crate) const COMPUTE_ADMIN_CONTEXT: Rule = Rule::new("compute", "context_is_admin", Admin);
/// `os_compute_api:os-lock-server:unlock:unlock_override`: unlocking a server an
/// admin locked.
pub(crate) const COMPUTE_UNLOCK_OVERRIDE: Rule = Rule::new(
    "compute",
    "os_compute_api:os-lock-server:unlock:unlock_override",
    Admin,
);
/// `os_compute_api:servers:index:get_all_tenants` (`all_tenants` on the list).
pub(crate) const COMPUTE_ALL_TENANTS: Rule = Rule::new(
    "compute",
    "os_compute_api:servers:index:get_all_tenants",
    Admin,
);
/// `os_compute_api:servers:allow_all_filters`: the admin-only list filters
/// (`deleted`, `host`, `node`...).
pub(crate) const COMPUTE_ALL_FILTERS: Rule =
    Rule::new("compute", "os_compute_api:servers:allow_all_filters", Admin);
/// `os_compute_api:os-extended-server-attributes`: `OS-EXT-SRV-ATTR:*`.
pub(crate) const COMPUTE_EXTENDED_ATTRIBUTES: Rule = Rule::new(
    "compute",
    "os_compute_api:os-extended-server-attributes",
    Admin,
);
/// `os_compute_api:servers:show:host_status` (2.16).
pub(crate) const COMPUTE_HOST_STATUS: Rule =
    Rule::new("compute", "os_compute_api:servers:show:host_status", Admin);
/// `os_compute_api:os-instance-actions:events` and `:events:details`: an action
/// event's traceback and (2.62) host.
pub(crate) const COMPUTE_ACTION_EVENTS: Rule = Rule::new(
    "compute",
    "os_compute_api:os-instance-actions:events",
    Admin,
);
/// `os_compute_api:os-shelve:shelve_offload`.
pub(crate) const COMPUTE_SHELVE_OFFLOAD: Rule =
    Rule::new("compute", "os_compute_api:os-shelve:shelve_offload", Admin);
/// `os_compute_api:os-server-groups:index:all_projects`.
pub(crate) const COMPUTE_SERVER_GROUPS_ALL_PROJECTS: Rule = Rule::new(
    "compute",
    "os_compute_api:os-server-groups:index:all_projects",
    Admin,
);

/// `os_compute_api:os-assisted-volume-snapshots:{create,delete}`: block
/// storage's calls (Nova: the service role, or admin under the legacy rules).
pub(crate) const COMPUTE_ASSISTED_VOLUME_SNAPSHOTS: Rule = Rule::new(
    "compute",
    "os_compute_api:os-assisted-volume-snapshots",
    AdminOrService,
);

// --- Neutron (neutron/conf/policies/base.py: ADMIN_OR_PROJECT_READER / _MEMBER) ---
/// `get_network`, `get_port`... for the owner (shared/external objects add their own
/// visibility on top, as Neutron's `rule:shared` does).
pub(crate) const NETWORK_READ: Rule =
    Rule::new("network", "admin_or_project_reader", AdminOrProject(Reader));
/// `update_network`, `delete_port`... (ADMIN_OR_PROJECT_MEMBER).
pub(crate) const NETWORK_WRITE: Rule =
    Rule::new("network", "admin_or_project_member", AdminOrProject(Member));
/// `create_subnet`, `create_port` on a network: ADMIN_OR_NET_OWNER_MEMBER, where the
/// owner is the network's project (callers pass it).
pub(crate) const NETWORK_OWNER_MEMBER: Rule = Rule::new(
    "network",
    "admin_or_network_owner_member",
    AdminOrProject(Member),
);
/// `update_port:mac_address`: ADMIN_OR_PROJECT_MANAGER of the network's project.
pub(crate) const PORT_MAC_ADDRESS_UPDATE: Rule = Rule::new(
    "network",
    "update_port:mac_address",
    AdminOrProject(Manager),
);
/// `create_network:shared`, `create_network:router:external`, provider attributes.
pub(crate) const NETWORK_PRIVILEGED_ATTRIBUTES: Rule =
    Rule::new("network", "create_network:provider:network_type", Admin);
/// `get_network:provider:*`, `get_port:binding:*`: the provider and binding
/// attributes in what Neutron shows.
pub(crate) const NETWORK_SHOW_PRIVILEGED_ATTRIBUTES: Rule =
    Rule::new("network", "get_network:provider:network_type", Admin);
/// Neutron's `context.is_admin` check on deleting a project's `default`
/// security group (`SecurityGroupCannotRemoveDefault`).
pub(crate) const NETWORK_ADMIN_CONTEXT: Rule = Rule::new("network", "context_is_admin", Admin);
/// `create_port:binding:host_id` / `update_port:binding:host_id`.
pub(crate) const PORT_BINDING_HOST: Rule =
    Rule::new("network", "create_port:binding:host_id", Admin);
/// `create_port:binding:profile` / `update_port:binding:profile`.
pub(crate) const PORT_BINDING_PROFILE: Rule =
    Rule::new("network", "create_port:binding:profile", Admin);
/// `create_router:external_gateway_info:enable_snat`.
pub(crate) const ROUTER_GATEWAY_SNAT: Rule = Rule::new(
    "network",
    "create_router:external_gateway_info:enable_snat",
    Admin,
);
/// `create_router:external_gateway_info:external_fixed_ips`.
pub(crate) const ROUTER_GATEWAY_FIXED_IPS: Rule = Rule::new(
    "network",
    "create_router:external_gateway_info:external_fixed_ips",
    Admin,
);
/// `create_floatingip:floating_ip_address`.
pub(crate) const FLOATINGIP_ADDRESS: Rule =
    Rule::new("network", "create_floatingip:floating_ip_address", Admin);
/// `create_subnetpool:shared` / `create_subnetpool:is_default`.
pub(crate) const SUBNETPOOL_SHARED: Rule = Rule::new("network", "create_subnetpool:shared", Admin);
/// `get_agent`: admin only; a list keeps what the caller may see.
pub(crate) const NETWORK_AGENT_READ: Rule = Rule::new("network", "get_agent", Admin);
/// `create_subnetpool:is_default`.
pub(crate) const SUBNETPOOL_DEFAULT: Rule =
    Rule::new("network", "create_subnetpool:is_default", Admin);

// --- Cinder (cinder/policies/base.py) ---
/// `volume:get`... (`xena_project_reader_or_admin` in Cinder's names).
pub(crate) const VOLUME_READ: Rule =
    Rule::new("volume", "admin_or_project_reader", AdminOrProject(Reader));
/// `volume:update`, `volume:delete`... (`xena_project_member_or_admin`).
pub(crate) const VOLUME_WRITE: Rule =
    Rule::new("volume", "admin_or_project_member", AdminOrProject(Member));
/// `volume_extension:quotas:show`, also for `/os-quota-sets/{project}/defaults`.
pub(crate) const VOLUME_QUOTA_SHOW: Rule = Rule::new(
    "volume",
    "volume_extension:quotas:show",
    AdminOrProject(Reader),
);
/// Where Cinder asks `context.is_admin` rather than a named policy: `all_tenants`
/// on the volume, snapshot, backup, transfer and attachment lists, every project's
/// messages, private volume types and the type list's `is_public` filter, 3.21's
/// `provider_id`.
pub(crate) const VOLUME_ADMIN_CONTEXT: Rule = Rule::new("volume", "context_is_admin", Admin);
/// `volume_extension:volume_host_attribute`: `os-vol-host-attr:host`, 3.61's
/// `cluster_name`.
pub(crate) const VOLUME_HOST_ATTRIBUTE: Rule =
    Rule::new("volume", "volume_extension:volume_host_attribute", Admin);
/// `volume_extension:volume_mig_status_attribute`: `os-vol-mig-status-attr:*`.
pub(crate) const VOLUME_MIG_STATUS_ATTRIBUTE: Rule = Rule::new(
    "volume",
    "volume_extension:volume_mig_status_attribute",
    Admin,
);
/// `backup:backup_project_attribute`: a backup's project (3.18) and user (3.56).
pub(crate) const BACKUP_PROJECT_ATTRIBUTE: Rule =
    Rule::new("volume", "backup:backup_project_attribute", Admin);
/// `volume_extension:access_types_extra_specs`: a type's extra specs beyond the
/// few users see.
pub(crate) const VOLUME_TYPE_EXTRA_SPECS: Rule =
    Rule::new("volume", "volume_extension:access_types_extra_specs", Admin);
/// `volume_extension:volume_actions:reimage_reserved`: reimaging a volume held
/// `reserved` for an attachment (Nova's rebuild of a volume-backed server).
pub(crate) const VOLUME_REIMAGE_RESERVED: Rule = Rule::new(
    "volume",
    "volume_extension:volume_actions:reimage_reserved",
    AdminOrService,
);
/// `group:access_group_types_specs` and Cinder's `context.is_admin` on groups:
/// private group types, a group type's specs, every project's groups and group
/// snapshots (`all_tenants`).
pub(crate) const GROUP_ADMIN_CONTEXT: Rule =
    Rule::new("volume", "group:access_group_types_specs", Admin);

// --- Heat (heat/policies/base.py) ---
/// `stacks:show`, `stacks:index`... (PROJECT_READER).
pub(crate) const STACK_READ: Rule =
    Rule::new("orchestration", "project_reader", AdminOrProject(Reader));
/// `stacks:create`, `stacks:update`, `stacks:delete` (PROJECT_MEMBER).
pub(crate) const STACK_WRITE: Rule =
    Rule::new("orchestration", "project_member", AdminOrProject(Member));
/// `stacks:global_index` (`global_tenant=true`). Heat's default is
/// `rule:deny_everybody`; here the admin lists every project's stacks, which the
/// dashboard's admin stack page asks for.
pub(crate) const STACK_GLOBAL_INDEX: Rule =
    Rule::new("orchestration", "stacks:global_index", Admin);
/// Where Heat asks `context.is_admin`: another tenant's id in the URL, a stack
/// found by name across projects.
pub(crate) const ORCHESTRATION_ADMIN_CONTEXT: Rule =
    Rule::new("orchestration", "context_is_admin", Admin);

// --- Glance (glance/policies/base.py) ---
/// `publicize_image`: only an admin makes an image public.
pub(crate) const IMAGE_PUBLICIZE: Rule = Rule::new("image", "publicize_image", Admin);
/// `modify_image`, `upload_image`, `delete_image`... (ADMIN_OR_PROJECT_MEMBER).
pub(crate) const IMAGE_WRITE: Rule =
    Rule::new("image", "admin_or_project_member", AdminOrProject(Member));
/// `get_members`, `get_task`, an image's owner: the owning project's token or an admin.
/// Glance's `context.is_admin`: every image whatever its visibility, and the data
/// of a deactivated image (`download_image` on a deactivated image).
pub(crate) const IMAGE_ADMIN_CONTEXT: Rule = Rule::new("image", "context_is_admin", Admin);
pub(crate) const IMAGE_OWNER: Rule =
    Rule::new("image", "admin_or_owner", AnyOf(&[Admin, OwnProject]));
/// `get_metadef_namespace`... (ADMIN_OR_PROJECT_READER; public ones are seen by all).
pub(crate) const METADEF_READ: Rule =
    Rule::new("image", "admin_or_project_reader", AdminOrProject(Reader));

// --- Placement (placement/policies/base.py) ---
/// Every Placement API: `role:admin` (`admin_api`).
pub(crate) const PLACEMENT_ADMIN: Rule = Rule::new("placement", "admin_api", Admin);

// --- Keystone (keystone/common/policies/base.py) ---
/// `admin_required`: OAuth1 consumers and other cloud-wide objects.
pub(crate) const IDENTITY_ADMIN: Rule = Rule::new("identity", "admin_required", Admin);
/// `ADMIN_OR_SYSTEM_READER`: reads of cloud-wide objects (policies, all credentials).
pub(crate) const IDENTITY_SYSTEM_READER: Rule = Rule::new(
    "identity",
    "admin_or_system_reader",
    AnyOf(&[Admin, SystemReader]),
);
/// `admin_or_owner`: the object's own user (`user_id:%(target.user_id)s`) or an
/// admin: changes to a user's credentials, trusts, application credentials.
pub(crate) const IDENTITY_OWNER: Rule =
    Rule::new("identity", "admin_or_owner", AnyOf(&[Admin, OwnerUser]));
/// `ADMIN_OR_SYSTEM_READER_OR_OWNER`: reads of a user's own objects.
pub(crate) const IDENTITY_READER_OR_OWNER: Rule = Rule::new(
    "identity",
    "admin_or_system_reader_or_owner",
    AnyOf(&[Admin, SystemReader, OwnerUser]),
);
/// `identity:validate_token` / `check_token`: a system reader, a service or the
/// token's own subject.
pub(crate) const TOKEN_VALIDATE: Rule = Rule::new(
    "identity",
    "identity:validate_token",
    AnyOf(&[Admin, SystemReader, Service, OwnerUser]),
);
/// `identity:revoke_token`: `service_admin_or_token_subject`.
pub(crate) const TOKEN_REVOKE: Rule = Rule::new(
    "identity",
    "identity:revoke_token",
    AnyOf(&[Admin, Service, OwnerUser]),
);
/// `identity:get_domain`: a system reader or anyone whose token lies in the domain.
pub(crate) const DOMAIN_READ: Rule = Rule::new(
    "identity",
    "identity:get_domain",
    AnyOf(&[Admin, SystemReader, OwnDomain]),
);
/// `identity:get_project`: a system reader or the project's own token.
pub(crate) const PROJECT_GET: Rule = Rule::new(
    "identity",
    "identity:get_project",
    AnyOf(&[Admin, SystemReader, OwnProject]),
);

// --- Object storage, S3 face (Swift's keystoneauth: `project_reader_roles`,
// `operator_roles`); Swift's own API decides in object/api/access.rs, which adds
// ACLs, temp URLs and `ResellerAdmin`. ---
/// Reading buckets and objects: a reader of the bucket's project.
pub(crate) const OBJECT_READ: Rule =
    Rule::new("object", "project_reader_roles", AdminOrProject(Reader));
/// Creating, changing and deleting buckets and objects: an operator (member).
pub(crate) const OBJECT_WRITE: Rule = Rule::new("object", "operator_roles", AdminOrProject(Member));

/// Every rule, for the table test and for anyone comparing with the real defaults.
#[cfg(test)]
pub(crate) const RULES: &[Rule] = &[
    ADMIN,
    PROJECT_READER_OR_ADMIN,
    PROJECT_MEMBER_OR_ADMIN,
    COMPUTE_READ,
    COMPUTE_WRITE,
    COMPUTE_FORCED_HOST,
    COMPUTE_REQUESTED_DESTINATION,
    COMPUTE_UNSHELVE_TO_HOST,
    COMPUTE_EXTERNAL_EVENTS,
    COMPUTE_ASSISTED_VOLUME_SNAPSHOTS,
    COMPUTE_ADMIN_CONTEXT,
    COMPUTE_UNLOCK_OVERRIDE,
    COMPUTE_ALL_TENANTS,
    COMPUTE_ALL_FILTERS,
    COMPUTE_EXTENDED_ATTRIBUTES,
    COMPUTE_HOST_STATUS,
    COMPUTE_ACTION_EVENTS,
    COMPUTE_SHELVE_OFFLOAD,
    COMPUTE_SERVER_GROUPS_ALL_PROJECTS,
    NETWORK_READ,
    NETWORK_WRITE,
    NETWORK_OWNER_MEMBER,
    PORT_MAC_ADDRESS_UPDATE,
    NETWORK_PRIVILEGED_ATTRIBUTES,
    PORT_BINDING_HOST,
    PORT_BINDING_PROFILE,
    ROUTER_GATEWAY_SNAT,
    ROUTER_GATEWAY_FIXED_IPS,
    FLOATINGIP_ADDRESS,
    SUBNETPOOL_SHARED,
    SUBNETPOOL_DEFAULT,
    VOLUME_READ,
    VOLUME_WRITE,
    VOLUME_QUOTA_SHOW,
    VOLUME_ADMIN_CONTEXT,
    VOLUME_HOST_ATTRIBUTE,
    VOLUME_MIG_STATUS_ATTRIBUTE,
    BACKUP_PROJECT_ATTRIBUTE,
    VOLUME_TYPE_EXTRA_SPECS,
    VOLUME_REIMAGE_RESERVED,
    NETWORK_SHOW_PRIVILEGED_ATTRIBUTES,
    NETWORK_ADMIN_CONTEXT,
    IMAGE_ADMIN_CONTEXT,
    GROUP_ADMIN_CONTEXT,
    STACK_READ,
    STACK_WRITE,
    STACK_GLOBAL_INDEX,
    ORCHESTRATION_ADMIN_CONTEXT,
    IMAGE_PUBLICIZE,
    IMAGE_WRITE,
    IMAGE_OWNER,
    METADEF_READ,
    PLACEMENT_ADMIN,
    NETWORK_AGENT_READ,
    IDENTITY_ADMIN,
    IDENTITY_SYSTEM_READER,
    IDENTITY_OWNER,
    IDENTITY_READER_OR_OWNER,
    TOKEN_VALIDATE,
    TOKEN_REVOKE,
    DOMAIN_READ,
    PROJECT_GET,
    OBJECT_READ,
    OBJECT_WRITE,
];

/// The owner rules of one service: whether the caller sees an object a project owns,
/// and whether it may change it. Services expose these as their `sees`/`may_change`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner {
    pub read: Rule,
    pub write: Rule,
}

impl Owner {
    pub(crate) fn sees(&self, ctx: &RequestContext, project_id: &str) -> bool {
        self.read.allows(ctx, Some(project_id))
    }

    pub(crate) fn may_change(&self, ctx: &RequestContext, project_id: &str) -> ApiResult<()> {
        self.write.enforce(ctx, Some(project_id))
    }
}

pub(crate) const COMPUTE: Owner = Owner {
    read: COMPUTE_READ,
    write: COMPUTE_WRITE,
};
pub(crate) const NETWORK: Owner = Owner {
    read: NETWORK_READ,
    write: NETWORK_WRITE,
};
pub(crate) const VOLUME: Owner = Owner {
    read: VOLUME_READ,
    write: VOLUME_WRITE,
};
pub(crate) const ORCHESTRATION: Owner = Owner {
    read: STACK_READ,
    write: STACK_WRITE,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::context::{NamedRef, Scope};

    fn ctx(project: &str, roles: &[&str]) -> RequestContext {
        RequestContext {
            scope: Scope::Project {
                project: NamedRef {
                    id: project.into(),
                    name: project.into(),
                },
                domain: NamedRef::default(),
            },
            roles: roles
                .iter()
                .map(|r| NamedRef {
                    id: (*r).into(),
                    name: (*r).into(),
                })
                .collect(),
            ..Default::default()
        }
    }

    /// The table as the real defaults say it, for every owner rule of every service:
    /// (roles, own project?) -> (sees, may change).
    #[test]
    fn owner_rules_follow_the_real_defaults() {
        let cases: &[(&[&str], bool, bool, bool)] = &[
            (&["admin"], false, true, true),
            (&["admin"], true, true, true),
            (&["member"], true, true, true),
            (&["member", "reader"], true, true, true),
            (&["member"], false, false, false),
            (&["reader"], true, true, false),
            (&["reader"], false, false, false),
            // A role the defaults do not name grants nothing, in every service
            // (Neutron once let any role of the project read).
            (&["heat_stack_owner"], true, false, false),
            (&[], true, false, false),
        ];
        for owner in [COMPUTE, NETWORK, VOLUME, ORCHESTRATION] {
            for &(roles, own, sees, changes) in cases {
                let c = ctx("p1", roles);
                let target = if own { "p1" } else { "p2" };
                assert_eq!(
                    owner.sees(&c, target),
                    sees,
                    "{} {roles:?} own={own}",
                    owner.read.service
                );
                assert_eq!(
                    owner.may_change(&c, target).is_ok(),
                    changes,
                    "{} {roles:?} own={own}",
                    owner.write.service
                );
            }
        }
    }

    #[test]
    fn admin_only_rules_refuse_a_member() {
        let member = ctx("p1", &["member", "reader"]);
        let admin = ctx("p1", &["admin"]);
        for rule in RULES.iter().filter(|r| r.check == Check::Admin) {
            assert!(!rule.allows(&member, None), "{}", rule.name);
            assert!(rule.allows(&admin, None), "{}", rule.name);
        }
        let service = ctx("service", &["service"]);
        assert!(COMPUTE_EXTERNAL_EVENTS.allows(&service, None));
        assert!(!COMPUTE_EXTERNAL_EVENTS.allows(&member, None));
    }

    #[test]
    fn unscoped_callers_pass_no_project_rule() {
        let c = RequestContext {
            roles: vec![NamedRef {
                id: "m".into(),
                name: "member".into(),
            }],
            ..Default::default()
        };
        assert!(!PROJECT_READER_OR_ADMIN.allows(&c, None));
        assert!(!PROJECT_MEMBER_OR_ADMIN.allows(&c, Some("p1")));
    }

    /// Keystone's user-owned objects: the owner and an admin pass; another member
    /// does not; a system reader reads but does not change; a service validates and
    /// revokes tokens but does not read credentials.
    #[test]
    fn identity_owner_rules_follow_keystone() {
        let mut owner = ctx("p1", &["member"]);
        owner.user.id = "u1".into();
        let mut other = ctx("p1", &["member", "reader"]);
        other.user.id = "u2".into();
        let mut system = ctx("p1", &["reader"]);
        system.scope = Scope::System;
        system.user.id = "u3".into();
        let mut service = ctx("service", &["service"]);
        service.user.id = "nova".into();
        let admin = ctx("p9", &["admin"]);
        let t = Target::user("u1");
        let cases: &[(&Rule, [bool; 5])] = &[
            // owner, other, system reader, service, admin
            (&IDENTITY_OWNER, [true, false, false, false, true]),
            (&IDENTITY_READER_OR_OWNER, [true, false, true, false, true]),
            (&TOKEN_VALIDATE, [true, false, true, true, true]),
            (&TOKEN_REVOKE, [true, false, false, true, true]),
        ];
        for (rule, want) in cases {
            let got = [&owner, &other, &system, &service, &admin].map(|c| rule.allows_target(c, t));
            assert_eq!(got, *want, "{}", rule.name);
        }
        // A project's own token reads it whatever its roles; another project's does not.
        let p = Target {
            project: Some("p1"),
            ..Target::default()
        };
        assert!(PROJECT_GET.allows_target(&ctx("p1", &[]), p));
        assert!(!PROJECT_GET.allows_target(&ctx("p2", &["member"]), p));
        let mut in_d1 = ctx("p2", &["member"]);
        in_d1.user_domain.id = "d1".into();
        assert!(DOMAIN_READ.allows_target(&in_d1, Target::domain("d1")));
        assert!(!DOMAIN_READ.allows_target(&in_d1, Target::domain("d2")));
    }
}
