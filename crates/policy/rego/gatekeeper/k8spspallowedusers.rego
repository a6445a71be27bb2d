# K8sPSPAllowedUsers: the users and groups a pod's containers run as.
# `parameters.runAsUser.rule`: MustRunAsNonRoot (runAsUser, the container's else the
# pod's, must not be 0, and without one runAsNonRoot must be true), MustRunAs (set and
# inside `ranges`), MayRunAs (inside `ranges` when set) or RunAsAny.
# `parameters.runAsGroup` (per container, like runAsUser), `parameters.fsGroup` and
# `parameters.supplementalGroups` (pod-level): MustRunAs, MayRunAs or RunAsAny.
# Parameters: runAsUser, runAsGroup, supplementalGroups, fsGroup ({rule, ranges}),
# exemptImages.
package caisson.gatekeeper.k8spspallowedusers

import data.caisson.gatekeeper.lib as lib

# runAsUser: MustRunAsNonRoot with uid 0.
violation contains {"msg": msg, "details": {"container": name, "field": "runAsUser", "rule": "MustRunAsNonRoot", "value": 0}} if {
	input.parameters.runAsUser.rule == "MustRunAsNonRoot"
	some c in lib.checked_containers
	effective(c, "runAsUser") == 0
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Container %v is attempting to run as disallowed user 0 (runAsUser rule MustRunAsNonRoot)", [name])
}

# runAsUser: MustRunAsNonRoot without a uid and without runAsNonRoot.
violation contains {"msg": msg, "details": {"container": name, "field": "runAsUser", "rule": "MustRunAsNonRoot"}} if {
	input.parameters.runAsUser.rule == "MustRunAsNonRoot"
	some c in lib.checked_containers
	not is_number(effective(c, "runAsUser"))
	not effective(c, "runAsNonRoot") == true
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Container %v is attempting to run without a required securityContext/runAsNonRoot or securityContext/runAsUser != 0", [name])
}

# runAsUser and runAsGroup: MustRunAs / MayRunAs ranges.
violation contains {"msg": msg, "details": {"container": name, "field": field, "rule": rule, "value": value}} if {
	some field in ["runAsUser", "runAsGroup"]
	rule := input.parameters[field].rule
	rule in {"MustRunAs", "MayRunAs"}
	some c in lib.checked_containers
	value := effective(c, field)
	not data.caisson.gatekeeper.lib.in_ranges(value, ranges(field))
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Container %v is attempting to run with %v %v; allowed (rule %v): %v", [name, field, value, rule, ranges(field)])
}

violation contains {"msg": msg, "details": {"container": name, "field": field, "rule": "MustRunAs"}} if {
	some field in ["runAsUser", "runAsGroup"]
	input.parameters[field].rule == "MustRunAs"
	some c in lib.checked_containers
	not is_number(effective(c, field))
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Container %v must set securityContext/%v (rule MustRunAs, ranges %v)", [name, field, ranges(field)])
}

# fsGroup (pod-level).
violation contains {"msg": msg, "details": {"field": "fsGroup", "rule": rule, "value": value}} if {
	not lib.is_update
	rule := input.parameters.fsGroup.rule
	rule in {"MustRunAs", "MayRunAs"}
	value := lib.spec.securityContext.fsGroup
	not is_null(value)
	not data.caisson.gatekeeper.lib.in_ranges(value, ranges("fsGroup"))
	msg := sprintf("Pod %v is attempting to run with fsGroup %v; allowed (rule %v): %v", [lib.pod_name, value, rule, ranges("fsGroup")])
}

violation contains {"msg": msg, "details": {"field": "fsGroup", "rule": "MustRunAs"}} if {
	not lib.is_update
	input.parameters.fsGroup.rule == "MustRunAs"
	not is_number(lib.spec.securityContext.fsGroup)
	msg := sprintf("Pod %v must set securityContext/fsGroup (rule MustRunAs, ranges %v)", [lib.pod_name, ranges("fsGroup")])
}

# supplementalGroups (pod-level).
violation contains {"msg": msg, "details": {"field": "supplementalGroups", "rule": rule, "value": value}} if {
	not lib.is_update
	rule := input.parameters.supplementalGroups.rule
	rule in {"MustRunAs", "MayRunAs"}
	some value in lib.spec.securityContext.supplementalGroups
	not data.caisson.gatekeeper.lib.in_ranges(value, ranges("supplementalGroups"))
	msg := sprintf("Pod %v is attempting to run with supplemental group %v; allowed (rule %v): %v", [lib.pod_name, value, rule, ranges("supplementalGroups")])
}

violation contains {"msg": msg, "details": {"field": "supplementalGroups", "rule": "MustRunAs"}} if {
	not lib.is_update
	input.parameters.supplementalGroups.rule == "MustRunAs"
	count(supplemental_groups) == 0
	msg := sprintf("Pod %v must set securityContext/supplementalGroups (rule MustRunAs, ranges %v)", [lib.pod_name, ranges("supplementalGroups")])
}

supplemental_groups := g if {
	g := lib.spec.securityContext.supplementalGroups
	is_array(g)
} else := []

# The container's securityContext field, else the pod's (undefined when neither is set).
effective(c, field) := v if {
	v := c.securityContext[field]
	not is_null(v)
} else := v if {
	v := lib.spec.securityContext[field]
	not is_null(v)
}

ranges(field) := r if {
	r := input.parameters[field].ranges
	is_array(r)
} else := []
