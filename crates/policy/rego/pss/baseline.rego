# Kubernetes Pod Security Standards, "baseline" level, control by control
# (https://kubernetes.io/docs/concepts/security/pod-security-standards/, as enforced
# by Pod Security Admission). Input: Caisson's Pod-like document (crates/policy/src/input.rs),
# so the same rules judge a Pod, an AdmissionReview and an OCI config.json.
package caisson.pss.baseline

import rego.v1

# Every container of the pod, by its field path (`spec.initContainers[0]`). An
# object, not a set of [list, index, container]: iterating it needs no
# destructuring, which halves the cost of every per-container rule on the RVM.
containers[path] := c if {
	some list in ["containers", "initContainers", "ephemeralContainers"]
	some i, c in input.spec[list]
	path := sprintf("spec.%s[%v]", [list, i])
}

# The fields the input sets, as the engine indexes them before each decision
# (`input.present`, crates/policy/src/gate.rs `present`): a rule about a field no
# container sets is skipped for the price of one set lookup. Without the index (an
# input built by hand, as in the Rego unit tests) every field counts as present.
on := input.present if input.present

on := o if {
	not input.present
	o := {k: true | some k in index_keys}
}

index_keys := [
	"spec.hostns",
	"podsc.seccompProfile",
	"podsc.runAsUser",
	"podsc.runAsNonRoot",
	"podsc.appArmorProfile",
	"apparmor-annotation",
	"c.ports",
	"c.probes",
	"podsc.seLinuxOptions",
	"podsc.sysctls",
	"podsc.windowsOptions",
	"sc.appArmorProfile",
	"sc.capabilities",
	"sc.privileged",
	"sc.procMount",
	"sc.runAsNonRoot",
	"sc.runAsUser",
	"sc.seLinuxOptions",
	"sc.seccompProfile",
	"sc.windowsOptions",
	"spec.volumes"
]

# Capabilities that may be added: the container runtimes' default set without NET_RAW.
allowed_caps := {
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

# Namespaced sysctls isolated between pods (the "safe" set, through Kubernetes 1.37:
# tcp_rmem/tcp_wmem since 1.32, tcp_slow_start_after_idle/tcp_notsent_lowat since 1.37).
safe_sysctls := {
	"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
	"net.ipv4.tcp_slow_start_after_idle", "net.ipv4.tcp_notsent_lowat",
}

selinux_types := {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

apparmor_types := {"RuntimeDefault", "Localhost"}

# A pod in its own user namespace (hostUsers: false): its root is not root on the host,
# so the standard (from policy version 1.35) allows any /proc mount type here, and
# restricted skips its run-as-non-root and run-as-user controls. Not for OCI configs:
# their input says whether there is a user namespace, not that it maps 0 elsewhere
# than to host root, as the kubelet's does.
user_namespaced if {
	input.spec.hostUsers == false
	not input.source == "oci"
}

# --- HostProcess ---------------------------------------------------------------
violation contains {
	"rule": "host-process",
	"field": "spec.securityContext.windowsOptions.hostProcess",
	"msg": "pod sets windowsOptions.hostProcess=true (privileged access to the Windows node)",
} if {
	on["podsc.windowsOptions"]
	input.spec.securityContext.windowsOptions.hostProcess == true
}

violation contains {
	"rule": "host-process", "container": name,
	"field": concat("", [path, ".securityContext.windowsOptions.hostProcess"]),
	"msg": sprintf("container \"%s\" sets windowsOptions.hostProcess=true", [name]),
} if {
	on["sc.windowsOptions"]
	some path, c in containers
	c.securityContext.windowsOptions.hostProcess == true
	name := object.get(c, "name", "")
}

# --- Host namespaces -----------------------------------------------------------
violation contains {
	"rule": "host-namespaces", "field": concat(".", ["spec", f]),
	"msg": sprintf("%s=true shares the host's %s namespace", [f, kind]),
} if {
	on["spec.hostns"]
	some f, kind in {"hostNetwork": "network", "hostPID": "process", "hostIPC": "IPC"}
	input.spec[f] == true
}

# --- Privileged containers -----------------------------------------------------
violation contains {
	"rule": "privileged", "container": name,
	"field": concat("", [path, ".securityContext.privileged"]),
	"msg": sprintf("container \"%s\" is privileged", [name]),
} if {
	on["sc.privileged"]
	some path, c in containers
	c.securityContext.privileged == true
	name := object.get(c, "name", "")
}

# --- Capabilities --------------------------------------------------------------
# One violation per container, naming every capability beyond the default set.
violation contains {
	"rule": "capabilities", "container": name,
	"field": concat("", [path, ".securityContext.capabilities.add"]),
	"msg": sprintf("container \"%s\" adds %s, beyond the default set", [name, caps_text(bad)]),
} if {
	on["sc.capabilities"]
	some path, c in containers
	bad := {cap | some cap in c.securityContext.capabilities.add; not allowed_caps[cap]}
	count(bad) > 0
	name := object.get(c, "name", "")
}

caps_text(caps) := sprintf("capability %s", [concat("", sort(caps))]) if count(caps) == 1

caps_text(caps) := sprintf("capabilities %s", [concat(", ", sort(caps))]) if count(caps) > 1

# --- HostPath volumes ----------------------------------------------------------
violation contains {
	"rule": "host-path-volumes", "field": sprintf("spec.volumes[%d].hostPath", [i]),
	"msg": sprintf("volume \"%s\" mounts host path \"%s\"", [object.get(v, "name", ""), object.get(v.hostPath, "path", "")]),
} if {
	on["spec.volumes"]
	some i, v in input.spec.volumes
	v.hostPath
}

# --- Host ports ----------------------------------------------------------------
violation contains {
	"rule": "host-ports", "container": name,
	"field": sprintf("%s.ports[%d].hostPort", [path, j]),
	"msg": sprintf("container \"%s\" uses host port %d", [name, p.hostPort]),
} if {
	on["c.ports"]
	some path, c in containers
	some j, p in c.ports
	p.hostPort != 0
	name := object.get(c, "name", "")
}

# --- AppArmor ------------------------------------------------------------------
violation contains {
	"rule": "apparmor", "field": "spec.securityContext.appArmorProfile.type",
	"msg": sprintf("pod AppArmor profile type \"%s\" is not allowed (RuntimeDefault or Localhost)", [t]),
} if {
	on["podsc.appArmorProfile"]
	t := input.spec.securityContext.appArmorProfile.type
	not apparmor_types[t]
}

violation contains {
	"rule": "apparmor", "container": name,
	"field": concat("", [path, ".securityContext.appArmorProfile.type"]),
	"msg": sprintf("container \"%s\" AppArmor profile type \"%s\" is not allowed (RuntimeDefault or Localhost)", [name, t]),
} if {
	on["sc.appArmorProfile"]
	some path, c in containers
	t := c.securityContext.appArmorProfile.type
	not apparmor_types[t]
	name := object.get(c, "name", "")
}

violation contains {
	"rule": "apparmor", "field": sprintf("metadata.annotations[\"%s\"]", [k]),
	"msg": sprintf("AppArmor annotation %s=\"%s\" is not allowed (runtime/default or localhost/*)", [k, val]),
} if {
	on["apparmor-annotation"]
	some k, val in input.metadata.annotations
	startswith(k, "container.apparmor.security.beta.kubernetes.io/")
	val != ""
	val != "runtime/default"
	not startswith(val, "localhost/")
}

# --- SELinux -------------------------------------------------------------------
# The options are bound in the bodies: a head naming a container's missing
# seLinuxOptions made the whole set undefined or an error, skipping every container.
selinux_options contains ["spec.securityContext.seLinuxOptions", "", o] if {
	on["podsc.seLinuxOptions"]
	o := input.spec.securityContext.seLinuxOptions
}

selinux_options contains [concat("", [path, ".securityContext.seLinuxOptions"]), object.get(c, "name", ""), o] if {
	on["sc.seLinuxOptions"]
	some path, c in containers
	o := c.securityContext.seLinuxOptions
}

violation contains v if {
	some [field, name, o] in selinux_options
	t := object.get(o, "type", "")
	not selinux_types[t]
	v := object.union(who(name), {
		"rule": "selinux", "field": concat("", [field, ".type"]),
		"msg": sprintf("%sSELinux type \"%s\" is not allowed (container_t, container_init_t, container_kvm_t, container_engine_t)", [whose(name), t]),
	})
}

violation contains v if {
	some [field, name, o] in selinux_options
	some part in ["user", "role"]
	object.get(o, part, "") != ""
	v := object.union(who(name), {
		"rule": "selinux", "field": concat(".", [field, part]),
		"msg": sprintf("%ssets SELinux %s \"%s\" (must be unset)", [whose(name), part, o[part]]),
	})
}

who(name) := {} if name == ""

who(name) := {"container": name} if name != ""

whose(name) := "pod " if name == ""

whose(name) := sprintf("container \"%s\" ", [name]) if name != ""

# --- /proc mount type ----------------------------------------------------------
violation contains {
	"rule": "proc-mount", "container": name,
	"field": concat("", [path, ".securityContext.procMount"]),
	"msg": sprintf("container \"%s\" uses procMount \"%s\" (only Default: masked /proc)", [name, c.securityContext.procMount]),
} if {
	on["sc.procMount"]
	not user_namespaced
	some path, c in containers
	c.securityContext.procMount != "Default"
	name := object.get(c, "name", "")
}

# --- Seccomp -------------------------------------------------------------------
violation contains {
	"rule": "seccomp", "field": "spec.securityContext.seccompProfile.type",
	"msg": "pod seccomp profile is Unconfined",
} if {
	on["podsc.seccompProfile"]
	input.spec.securityContext.seccompProfile.type == "Unconfined"
}

violation contains {
	"rule": "seccomp", "container": name,
	"field": concat("", [path, ".securityContext.seccompProfile.type"]),
	"msg": sprintf("container \"%s\" seccomp profile is Unconfined", [name]),
} if {
	on["sc.seccompProfile"]
	some path, c in containers
	c.securityContext.seccompProfile.type == "Unconfined"
	name := object.get(c, "name", "")
}

# --- Sysctls -------------------------------------------------------------------
violation contains {
	"rule": "sysctls", "field": sprintf("spec.securityContext.sysctls[%d].name", [i]),
	"msg": sprintf("sysctl %s is not in the safe set", [object.get(s, "name", "")]),
} if {
	on["podsc.sysctls"]
	some i, s in input.spec.securityContext.sysctls
	not safe_sysctls[object.get(s, "name", "")]
}

# --- Host probes and lifecycle hooks ---------------------------------------------
# The kubelet connects to a probe's or hook's host from the node's network, not the
# pod's: a host reaches node-local services and metadata endpoints (policy 1.34+).
probe_handlers contains [path, object.get(c, "name", ""), p, handler] if {
	on["c.probes"]
	some path, c in containers
	some p in ["livenessProbe", "readinessProbe", "startupProbe"]
	handler := c[p]
}

probe_handlers contains [path, object.get(c, "name", ""), concat(".", ["lifecycle", h]), handler] if {
	on["c.probes"]
	some path, c in containers
	some h in ["postStart", "preStop"]
	handler := c.lifecycle[h]
}

violation contains {
	"rule": "host-probes-lifecycle", "container": name,
	"field": sprintf("%s.%s.%s.host", [path, what, kind]),
	"msg": sprintf("container \"%s\" %s.%s names host \"%s\" (probes and lifecycle hooks must not)", [name, what, kind, host]),
} if {
	some [path, name, what, handler] in probe_handlers
	some kind in ["httpGet", "tcpSocket"]
	host := handler[kind].host
	host != ""
}
