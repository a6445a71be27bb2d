# K8sPSPSeccomp: every container's seccomp profile must be one of
# `parameters.allowedProfiles`, in the annotation form (`runtime/default`,
# `docker/default`, `unconfined`, `localhost/<file>`; `*` allows any, a trailing `*`
# is a prefix glob) or a field type (`RuntimeDefault`, `Unconfined`, `Localhost`, the
# last with `parameters.allowedLocalhostFiles`). The profile comes from, in order: the
# container's securityContext.seccompProfile, the annotation
# container.seccomp.security.alpha.kubernetes.io/<container>, the pod's
# securityContext.seccompProfile, the annotation seccomp.security.alpha.kubernetes.io/pod.
# A container with none is "not configured" (allowed only if listed as such).
# Parameters: allowedProfiles, allowedLocalhostFiles, exemptImages.
package caisson.gatekeeper.k8spspseccomp

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "profile": profile, "location": location}} if {
	some c in lib.checked_containers
	[profile, location] := effective_profile(c)
	not allowed(profile)
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

allowed(profile) if data.caisson.gatekeeper.lib.any_glob_match(allowed_profiles, profile)

# Field types listed in allowedProfiles allow their annotation forms.
allowed(profile) if {
	"RuntimeDefault" in allowed_profiles
	profile in {"runtime/default", "docker/default"}
}

allowed(profile) if {
	"Unconfined" in allowed_profiles
	profile == "unconfined"
}

allowed(profile) if {
	"Localhost" in allowed_profiles
	startswith(profile, "localhost/")
	data.caisson.gatekeeper.lib.any_glob_match(localhost_files, trim_prefix(profile, "localhost/"))
}

# `runtime/default` and `docker/default` are the same profile.
allowed(profile) if {
	profile == "docker/default"
	"runtime/default" in allowed_profiles
}

allowed(profile) if {
	profile == "runtime/default"
	"docker/default" in allowed_profiles
}

container_annotation(c) := concat("", ["container.seccomp.security.alpha.kubernetes.io/", data.caisson.gatekeeper.lib.name_of(c)])

pod_annotation := "seccomp.security.alpha.kubernetes.io/pod"

effective_profile(c) := [p, "container securityContext"] if {
	p := field_profile(c.securityContext.seccompProfile)
} else := [p, concat(" ", ["annotation", container_annotation(c)])] if {
	p := input.review.object.metadata.annotations[container_annotation(c)]
	is_string(p)
} else := [p, "pod securityContext"] if {
	p := field_profile(lib.spec.securityContext.seccompProfile)
} else := [p, concat(" ", ["annotation", pod_annotation])] if {
	p := input.review.object.metadata.annotations[pod_annotation]
	is_string(p)
} else := ["not configured", "no explicit profile found"]

# The annotation form of a seccompProfile field.
field_profile(f) := "runtime/default" if f.type == "RuntimeDefault"

field_profile(f) := "unconfined" if f.type == "Unconfined"

field_profile(f) := concat("", ["localhost/", f.localhostProfile]) if {
	f.type == "Localhost"
	is_string(f.localhostProfile)
}
