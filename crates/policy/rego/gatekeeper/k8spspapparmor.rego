# K8sPSPAppArmor: every container's AppArmor profile must be one of
# `parameters.allowedProfiles`, in the annotation form (`runtime/default`, `unconfined`,
# `localhost/<profile>`; a trailing `*` is a prefix glob, e.g. `localhost/*`).
# The profile is the container's securityContext.appArmorProfile, else the annotation
# container.apparmor.security.beta.kubernetes.io/<container>, else the pod's
# securityContext.appArmorProfile; a container with none is not allowed.
# Parameters: allowedProfiles, exemptImages.
package caisson.gatekeeper.k8spspapparmor

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "profile": profile, "source": source}} if {
	some c in lib.checked_containers
	name := data.caisson.gatekeeper.lib.name_of(c)
	[profile, source] := effective_profile(c)
	not allowed(profile)
	msg := sprintf("AppArmor profile '%v' is not allowed, pod: %v, container: %v (from %v). Allowed profiles: %v", [profile, lib.pod_name, name, source, allowed_profiles])
}

allowed_profiles := p if {
	p := input.parameters.allowedProfiles
	is_array(p)
} else := []

allowed(profile) if data.caisson.gatekeeper.lib.any_glob_match(allowed_profiles, profile)

annotation_key(c) := concat("", ["container.apparmor.security.beta.kubernetes.io/", data.caisson.gatekeeper.lib.name_of(c)])

effective_profile(c) := [p, "container securityContext.appArmorProfile"] if {
	p := field_profile(c.securityContext.appArmorProfile)
} else := [p, concat("", ["annotation ", annotation_key(c)])] if {
	p := input.review.object.metadata.annotations[annotation_key(c)]
	is_string(p)
} else := [p, "pod securityContext.appArmorProfile"] if {
	p := field_profile(lib.spec.securityContext.appArmorProfile)
} else := ["not configured", "no profile set"]

# The annotation form of an appArmorProfile field.
field_profile(f) := "runtime/default" if f.type == "RuntimeDefault"

field_profile(f) := "unconfined" if f.type == "Unconfined"

field_profile(f) := concat("", ["localhost/", f.localhostProfile]) if {
	f.type == "Localhost"
	is_string(f.localhostProfile)
}
