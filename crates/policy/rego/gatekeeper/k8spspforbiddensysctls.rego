# K8sPSPForbiddenSysctls: a sysctl of the pod's securityContext.sysctls must not match
# `parameters.forbiddenSysctls`, and when `parameters.allowedSysctls` is given (even
# empty) it must match one of those. Patterns: exact names, or a trailing `*` glob.
# Parameters: forbiddenSysctls, allowedSysctls.
package caisson.gatekeeper.k8spspforbiddensysctls

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"sysctl": name, "field": "spec.securityContext.sysctls"}} if {
	not lib.is_update
	some s in lib.spec.securityContext.sysctls
	name := s.name
	data.caisson.gatekeeper.lib.any_glob_match(forbidden, name)
	msg := sprintf("The sysctl %v is not allowed, pod: %v. Forbidden sysctls: %v", [name, lib.pod_name, forbidden])
}

violation contains {"msg": msg, "details": {"sysctl": name, "field": "spec.securityContext.sysctls"}} if {
	not lib.is_update
	some s in lib.spec.securityContext.sysctls
	name := s.name
	not data.caisson.gatekeeper.lib.any_glob_match(forbidden, name)
	allowed := input.parameters.allowedSysctls
	not data.caisson.gatekeeper.lib.any_glob_match(allowed, name)
	msg := sprintf("The sysctl %v is not explicitly allowed, pod: %v. Allowed sysctls: %v", [name, lib.pod_name, allowed])
}

forbidden := f if {
	f := input.parameters.forbiddenSysctls
	is_array(f)
} else := []
