# Unit tests of the built-in sets (run: caisson policy test crates/policy/rego/tests).
package caisson.pss.tests

import rego.v1

pod(spec) := {"kind": "Pod", "metadata": {"name": "p", "namespace": "default", "annotations": {}}, "spec": spec}

rules(set) := {v.rule | some v in set}

test_default_pod_passes_baseline if {
	count(data.caisson.pss.baseline.violation) == 0 with input as pod({"containers": [{"name": "c", "image": "nginx"}]})
}

test_privileged_denied if {
	"privileged" in rules(data.caisson.pss.baseline.violation) with input as pod({"containers": [{"name": "c", "securityContext": {"privileged": true}}]})
}

test_init_and_ephemeral_containers_are_judged if {
	vs := data.caisson.pss.baseline.violation with input as pod({
		"containers": [{"name": "c"}],
		"initContainers": [{"name": "i", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}],
		"ephemeralContainers": [{"name": "e", "securityContext": {"procMount": "Unmasked"}}],
	})
	rules(vs) == {"capabilities", "proc-mount"}
}

test_default_capabilities_may_be_added_but_not_net_raw if {
	vs := data.caisson.pss.baseline.violation with input as pod({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["CHOWN", "NET_RAW"]}}}]})
	[v.msg | some v in vs] == ["container \"c\" adds capability NET_RAW, beyond the default set"]
}

test_safe_sysctls_only if {
	vs := data.caisson.pss.baseline.violation with input as pod({"containers": [], "securityContext": {"sysctls": [
		{"name": "net.ipv4.tcp_syncookies", "value": "1"},
		{"name": "kernel.msgmax", "value": "1"},
	]}})
	[v.field | some v in vs] == ["spec.securityContext.sysctls[1].name"]
}

test_selinux_types_and_user if {
	vs := data.caisson.pss.baseline.violation with input as pod({"containers": [
		{"name": "ok", "securityContext": {"seLinuxOptions": {"type": "container_init_t", "level": "s0:c1"}}},
		{"name": "bad", "securityContext": {"seLinuxOptions": {"type": "spc_t", "user": "system_u"}}},
	]})
	count(vs) == 2
	every v in vs { v.container == "bad" }
}

test_restricted_hardened_pod_passes if {
	count(data.caisson.pss.restricted.violation) == 0 with input as pod({
		"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
		"containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
		"volumes": [{"name": "v", "emptyDir": {}}],
	})
}

test_restricted_container_overrides_pod_run_as_non_root if {
	vs := data.caisson.pss.restricted.violation with input as pod({
		"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
		"containers": [{"name": "c", "securityContext": {"runAsNonRoot": false, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}],
	})
	rules(vs) == {"run-as-non-root"}
}

test_restricted_windows_pods_skip_linux_only_controls if {
	vs := data.caisson.pss.restricted.violation with input as pod({"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": true}, "containers": [{"name": "c"}]})
	count(vs) == 0
}

test_restricted_volume_types if {
	vs := data.caisson.pss.restricted.violation with input as pod({
		"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
		"containers": [],
		"volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}, {"name": "s", "secret": {"secretName": "s"}}],
	})
	[v.field | some v in vs] == ["spec.volumes[0].nfs"]
}
