# K8sPSPSeccompV2: every container's seccompProfile type (the container's
# securityContext.seccompProfile, else the pod's; "not configured" when neither sets
# one) must be one of `parameters.allowedProfiles` (`RuntimeDefault`, `Localhost`,
# `Unconfined`, `not configured`, or `*`); a Localhost profile's file must also match
# `parameters.allowedLocalhostFiles` (exact or trailing-`*` globs).
# Parameters: allowedProfiles, allowedLocalhostFiles, exemptImages.
package caisson.gatekeeper.k8spspseccompv2

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "profile": profile, "location": location}} if {
	some c in lib.checked_containers
	[profile, location, f] := effective_profile(c)
	not allowed(profile, f)
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Seccomp profile '%v' is not allowed for container '%v'. Found at: %v. Allowed profiles: %v", [profile, name, location, allowed_profiles])
}

allowed_profiles := p if {
	p := input.parameters.allowedProfiles
	is_array(p)
} else := []

localhost_files := f if {
	f := input.parameters.allowedLocalhostFiles
	is_array(f)
} else := []

allowed(_, _) if "*" in allowed_profiles

allowed(profile, _) if {
	profile != "Localhost"
	profile in allowed_profiles
}

allowed(profile, f) if {
	profile == "Localhost"
	"Localhost" in allowed_profiles
	data.caisson.gatekeeper.lib.any_glob_match(localhost_files, f.localhostProfile)
}

effective_profile(c) := [p.type, "container securityContext", p] if {
	p := c.securityContext.seccompProfile
	is_string(p.type)
} else := [p.type, "pod securityContext", p] if {
	p := lib.spec.securityContext.seccompProfile
	is_string(p.type)
} else := ["not configured", "no explicit profile found", {}]
