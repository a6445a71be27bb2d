# K8sPSPHostProbesLifecycle: probes (liveness, readiness, startup) and lifecycle hooks
# (postStart, preStop) must not name a `host` for httpGet or tcpSocket: the kubelet
# would connect from the node to any address, bypassing network policy.
# Parameters: exemptImages.
package caisson.gatekeeper.k8spsphostprobeslifecycle

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"container": name, "field": field, "host": host}} if {
	some c in lib.checked_containers
	some h in handlers(c)
	field := h[0]
	handler := h[1]
	some action in ["httpGet", "tcpSocket"]
	host := handler[action].host
	not host in {null, ""}
	name := data.caisson.gatekeeper.lib.name_of(c)
	msg := sprintf("Container %v sets host %v in %v.%v; probes and lifecycle hooks must not target a host", [name, host, field, action])
}

handlers(c) := array.concat(
	[[field, h] |
		some field in ["livenessProbe", "readinessProbe", "startupProbe"]
		h := c[field]
	],
	[[concat(".", ["lifecycle", hook]), h] |
		some hook in ["postStart", "preStop"]
		h := c.lifecycle[hook]
	],
)
