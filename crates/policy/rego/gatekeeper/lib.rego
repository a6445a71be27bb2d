# Shared helpers of Caisson's Gatekeeper-compatible Pod Security templates.
#
# Every template reads `input.review` (Gatekeeper's review: operation, object,
# oldObject, ...) and `input.parameters` (the constraint's spec.parameters).
#
# Templates import this package `as lib` and read its rules as `lib.<rule>`, but call
# its functions by their full path (`data.caisson.gatekeeper.lib.<fn>(...)`): regorus
# resolves an imported alias for rules, not for function calls.
package caisson.gatekeeper.lib

# True for an UPDATE: a Pod's spec is immutable after creation except for ephemeral
# containers, so pod-level fields are only judged on CREATE (as Gatekeeper does).
is_update if input.review.operation == "UPDATE"

# The Pod spec under review (undefined when the object has none).
spec := input.review.object.spec

# The Pod's name, for messages.
pod_name := n if {
	n := input.review.object.metadata.name
	is_string(n)
} else := "<unnamed>"

container_fields := ["containers", "initContainers", "ephemeralContainers"]

# Every container the templates judge: all of them outside an UPDATE; on an UPDATE only
# the ephemeral containers that the old object did not have yet (`kubectl debug` adds
# them with an UPDATE of the ephemeralcontainers subresource).
containers contains c if {
	not is_update
	some field in container_fields
	is_array(spec[field])
	some c in spec[field]
	is_object(c)
}

containers contains c if {
	is_update
	is_array(spec.ephemeralContainers)
	some c in spec.ephemeralContainers
	is_object(c)
	not c.name in old_ephemeral_names
}

old_ephemeral_names contains n if {
	some c in input.review.oldObject.spec.ephemeralContainers
	n := c.name
}

# A glob of Gatekeeper's kind: a trailing `*` matches any suffix, otherwise exact.
glob_match(pattern, value) if {
	is_string(pattern)
	is_string(value)
	endswith(pattern, "*")
	startswith(value, trim_suffix(pattern, "*"))
}

glob_match(pattern, value) if {
	is_string(pattern)
	is_string(value)
	not endswith(pattern, "*")
	pattern == value
}

# True when any pattern of the list matches the value.
any_glob_match(patterns, value) if {
	some pattern in patterns
	glob_match(pattern, value)
}

# True when the container's image matches one of `parameters.exemptImages`.
is_exempt(c) if any_glob_match(input.parameters.exemptImages, c.image)

# The containers judged by container-level rules: not exempt by image.
checked_containers contains c if {
	some c in containers
	not is_exempt(c)
}

# A container's name, for messages.
name_of(c) := n if {
	n := c.name
	is_string(n)
} else := "<unnamed>"

# True when the number lies in one of the `{min, max}` ranges (inclusive).
in_ranges(v, ranges) if {
	is_number(v)
	some r in ranges
	is_number(r.min)
	is_number(r.max)
	v >= r.min
	v <= r.max
}
