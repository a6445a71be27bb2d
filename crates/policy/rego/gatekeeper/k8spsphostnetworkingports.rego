# K8sPSPHostNetworkingPorts: spec.hostNetwork is allowed only when
# `parameters.hostNetwork` is true, and a container's host ports must lie in
# [`parameters.min`, `parameters.max`] (each bound applies when given). With
# hostNetwork a port without hostPort is bound on the host at its containerPort.
# Parameters: hostNetwork, min, max, exemptImages (ports only; hostNetwork is pod-level).
package caisson.gatekeeper.k8spsphostnetworkingports

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"field": "spec.hostNetwork"}} if {
	not lib.is_update
	lib.spec.hostNetwork == true
	not input.parameters.hostNetwork == true
	msg := sprintf("The specified hostNetwork is not allowed, pod: %v (spec.hostNetwork is true)", [lib.pod_name])
}

violation contains {"msg": msg, "details": {"container": name, "hostPort": port, "min": min_port, "max": max_port}} if {
	some c in lib.checked_containers
	some p in c.ports
	port := host_port(p)
	out_of_range(port)
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("The specified hostPort %v of container %v is not allowed, pod: %v. Allowed host ports: %v to %v", [port, name, lib.pod_name, min_port, max_port])
}

min_port := m if {
	m := input.parameters.min
	is_number(m)
} else := "unbounded"

max_port := m if {
	m := input.parameters.max
	is_number(m)
} else := "unbounded"

host_port(p) := p.hostPort if {
	is_number(p.hostPort)
	p.hostPort != 0
} else := p.containerPort if {
	lib.spec.hostNetwork == true
	is_number(p.containerPort)
}

out_of_range(port) if {
	is_number(input.parameters.min)
	port < input.parameters.min
}

out_of_range(port) if {
	is_number(input.parameters.max)
	port > input.parameters.max
}
