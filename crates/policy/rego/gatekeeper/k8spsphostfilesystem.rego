# K8sPSPHostFilesystem: a hostPath volume's path must lie under one of
# `parameters.allowedHostPaths[_].pathPrefix` (whole path components: `/foo` allows
# `/foo` and `/foo/bar`, not `/foobar`); when that entry says `readOnly: true`, every
# container mount of the volume must be readOnly. No allowedHostPaths: no hostPath at all.
# Parameters: allowedHostPaths ([{pathPrefix, readOnly}]).
package caisson.gatekeeper.k8spsphostfilesystem

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"volume": data.caisson.gatekeeper.lib.name_of(v), "path": path}} if {
	not lib.is_update
	some v in lib.spec.volumes
	path := host_path(v)
	not allowed(v, path)
	msg := sprintf("HostPath volume %v (path %v) is not allowed, pod: %v. Allowed host paths: %v", [data.caisson.gatekeeper.lib.name_of(v), path, lib.pod_name, allowed_host_paths])
}

# The hostPath of the volume ("" when the volume has an empty or odd hostPath).
host_path(v) := p if {
	is_object(v.hostPath)
	p := v.hostPath.path
	is_string(p)
} else := "" if {
	v.hostPath
}

allowed_host_paths := a if {
	a := input.parameters.allowedHostPaths
	is_array(a)
} else := []

allowed(v, path) if {
	some entry in allowed_host_paths
	under_prefix(path, entry.pathPrefix)
	mounts_ok(v, entry)
}

under_prefix(path, prefix) if {
	is_string(prefix)
	p := clean(prefix)
	p == "/"
	startswith(path, "/")
}

under_prefix(path, prefix) if {
	is_string(prefix)
	p := clean(prefix)
	p != "/"
	clean(path) == p
}

under_prefix(path, prefix) if {
	is_string(prefix)
	p := clean(prefix)
	p != "/"
	startswith(path, concat("", [p, "/"]))
}

clean(p) := "/" if {
	p != ""
	trim_right(p, "/") == ""
} else := trim_right(p, "/")

mounts_ok(_, entry) if not entry.readOnly == true

mounts_ok(v, entry) if {
	entry.readOnly == true
	every m in mounts_of(v) {
		m.readOnly == true
	}
}

# Every container's mounts of the volume (all containers: pod-level decision).
mounts_of(v) := [m |
	some field in lib.container_fields
	some c in lib.spec[field]
	some m in c.volumeMounts
	m.name == v.name
]
