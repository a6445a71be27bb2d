# Image rules: what an image may carry and where it may come from. Read the image
# references of the input (`input.images`) and the scan report (`input.scan`, the
# JSON of `caisson scan`). Parameters: data.caisson.parameters (policy config).
package caisson.image

import rego.v1

default_params := {
	"allowed_registries": [],
	"deny_severities": ["CRITICAL", "HIGH"],
	"require_digest": true,
	"require_scan": false,
	"deny_secrets": true,
}

default user_params := {}

user_params := data.caisson.parameters

params := object.union(default_params, user_params)

# --- allowed registries ----------------------------------------------------------
# An entry allows a registry (`registry.example.com`), one repository
# (`registry.example.com/team/app`), a repository prefix (`registry.example.com/team/`)
# or a glob ending in `*`.
allowed(img) if {
	some r in params.allowed_registries
	full := concat("/", [img.registry, img.repository])
	allowed_by(r, img.registry, full)
}

allowed_by(r, registry, _) if r == registry

allowed_by(r, _, full) if r == full

allowed_by(r, _, full) if {
	endswith(r, "/")
	startswith(full, r)
}

allowed_by(r, _, full) if {
	endswith(r, "*")
	startswith(full, trim_suffix(r, "*"))
}

violation contains {
	"rule": "allowed-registries", "container": img.container, "image": img.ref,
	"msg": sprintf("image \"%s\" comes from registry \"%s\", which is not in the allowed list %v", [img.ref, img.registry, params.allowed_registries]),
} if {
	count(params.allowed_registries) > 0
	some img in input.images
	not allowed(img)
}

# --- digest pinning ----------------------------------------------------------------
violation contains {
	"rule": "require-digest", "container": img.container, "image": img.ref,
	"msg": sprintf("image \"%s\" is not pinned by digest (use NAME@sha256:...)", [img.ref]),
} if {
	params.require_digest
	some img in input.images
	not img.pinned
}

# --- fixable vulnerabilities -----------------------------------------------------
deny_severities := {s | some s in params.deny_severities}

# Each fixable finding at a denying severity, in the report's order (`caisson scan`
# sorts by package). An array: a set would compare whole findings on every insert.
fixable := [f |
	denied := deny_severities # once, not a rule lookup per finding
	some f in input.scan.findings
	denied[f.severity]
	is_string(f.fixed)
]

# The first five in the message (formatted only when the rule fires).
shown := [sprintf("%s (%s, %s %s -> %s)", [object.get(f, "id", ""), f.severity, object.get(f, "package", ""), object.get(f, "installed", ""), f.fixed]) |
	some f in array.slice(fixable, 0, 5)
]

violation contains {
	"rule": "vulnerabilities",
	"msg": sprintf("image has %d fixable %s vulnerabilities: %s%s", [
		count(fixable), concat("/", params.deny_severities),
		concat(", ", shown), more(count(fixable) - 5),
	]),
} if {
	count(fixable) > 0
}

more(n) := "" if n <= 0

more(n) := sprintf(", and %d more", [n]) if n > 0

# --- secrets in layers -------------------------------------------------------------
violation contains {
	"rule": "secrets",
	"msg": sprintf("image layer %s holds a secret: %s in %s line %v%s", [object.get(s, "layer", "?"), object.get(s, "title", ""), object.get(s, "file", ""), object.get(s, "line", 0), deleted(s)]),
} if {
	params.deny_secrets
	some s in input.scan.secrets
}

deleted(s) := sprintf(" (deleted by a later layer %s, still in the image's history)", [s.deleted_in]) if is_string(s.deleted_in)

deleted(s) := "" if not is_string(s.deleted_in)

# --- a scan is required --------------------------------------------------------------
violation contains {
	"rule": "scan-required",
	"msg": "no scan report for the image (scan it with `caisson scan` first)",
} if {
	params.require_scan
	count(input.images) > 0
	not is_object(input.scan)
}
