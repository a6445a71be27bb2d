# K8sPSPFlexVolumes: a flexVolume's driver must be one of
# `parameters.allowedFlexVolumes[_].driver` (none when unset).
# Parameters: allowedFlexVolumes.
package caisson.gatekeeper.k8spspflexvolumes

import data.caisson.gatekeeper.lib as lib

violation contains {"msg": msg, "details": {"volume": data.caisson.gatekeeper.lib.name_of(v), "driver": driver}} if {
	not lib.is_update
	some v in lib.spec.volumes
	driver := v.flexVolume.driver
	not driver in allowed_drivers
	msg := sprintf("FlexVolume driver %v of volume %v is not allowed, pod: %v. Allowed drivers: %v", [driver, data.caisson.gatekeeper.lib.name_of(v), lib.pod_name, allowed_drivers])
}

allowed_drivers := [d | some a in input.parameters.allowedFlexVolumes; d := a.driver]
