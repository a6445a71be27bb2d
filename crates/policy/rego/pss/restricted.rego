# Kubernetes Pod Security Standards, "restricted" level: the controls it adds to
# baseline (the set pss-restricted evaluates both packages). Field by field as Pod
# Security Admission enforces them; Windows pods are exempt where the standard says so.
package caisson.pss.restricted

import rego.v1

containers := data.caisson.pss.baseline.containers

on := data.caisson.pss.baseline.on

windows if input.spec.os.name == "windows"

user_namespaced := data.caisson.pss.baseline.user_namespaced

# image: OCI image volumes (allowed since policy 1.33).
allowed_volume_types := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
	"persistentVolumeClaim", "projected", "secret",
}

# --- Volume types --------------------------------------------------------------
violation contains {
	"rule": "volume-types", "field": sprintf("spec.volumes[%d].%s", [i, k]),
	"msg": sprintf("volume \"%s\" uses type %s (allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret)", [object.get(v, "name", ""), k]),
} if {
	on["spec.volumes"]
	some i, v in input.spec.volumes
	some k, _ in v
	k != "name"
	k != "hostPath" # baseline's host-path-volumes reports it
	not allowed_volume_types[k]
}

# --- Privilege escalation ------------------------------------------------------
violation contains {
	"rule": "allow-privilege-escalation", "container": name,
	"field": concat("", [path, ".securityContext.allowPrivilegeEscalation"]),
	"msg": sprintf("container \"%s\" must set allowPrivilegeEscalation=false (no_new_privs)", [name]),
} if {
	not windows
	some path, c in containers
	not c.securityContext.allowPrivilegeEscalation == false
	name := object.get(c, "name", "")
}

# --- Running as non-root -------------------------------------------------------
# Not for a pod in its own user namespace (see baseline's user_namespaced).
violation contains {
	"rule": "run-as-non-root", "field": "spec.securityContext.runAsNonRoot",
	"msg": "pod sets runAsNonRoot=false",
} if {
	on["podsc.runAsNonRoot"]
	not user_namespaced
	input.spec.securityContext.runAsNonRoot == false
}

violation contains {
	"rule": "run-as-non-root", "container": name,
	"field": concat("", [path, ".securityContext.runAsNonRoot"]),
	"msg": sprintf("container \"%s\" sets runAsNonRoot=false", [name]),
} if {
	on["sc.runAsNonRoot"]
	not user_namespaced
	some path, c in containers
	c.securityContext.runAsNonRoot == false
	name := object.get(c, "name", "")
}

violation contains {
	"rule": "run-as-non-root", "container": name,
	"field": concat("", [path, ".securityContext.runAsNonRoot"]),
	"msg": sprintf("container \"%s\" must set runAsNonRoot=true (or the pod must)", [name]),
} if {
	not user_namespaced
	not input.spec.securityContext.runAsNonRoot == true
	some path, c in containers
	not has_key(object.get(c, "securityContext", {}), "runAsNonRoot")
	name := object.get(c, "name", "")
}

has_key(o, k) if _ = o[k]

# --- Running as a non-root user ------------------------------------------------
# Not for a pod in its own user namespace (see baseline's user_namespaced).
violation contains {
	"rule": "run-as-user", "field": "spec.securityContext.runAsUser",
	"msg": "pod sets runAsUser=0",
} if {
	on["podsc.runAsUser"]
	not user_namespaced
	input.spec.securityContext.runAsUser == 0
}

violation contains {
	"rule": "run-as-user", "container": name,
	"field": concat("", [path, ".securityContext.runAsUser"]),
	"msg": sprintf("container \"%s\" sets runAsUser=0", [name]),
} if {
	on["sc.runAsUser"]
	not user_namespaced
	some path, c in containers
	c.securityContext.runAsUser == 0
	name := object.get(c, "name", "")
}

# --- Seccomp -------------------------------------------------------------------
# Explicit Unconfined is baseline's finding; restricted requires the profile to be set.
violation contains {
	"rule": "seccomp", "container": name,
	"field": concat("", [path, ".securityContext.seccompProfile.type"]),
	"msg": sprintf("container \"%s\" must set seccompProfile.type to RuntimeDefault or Localhost (or the pod must)", [name]),
} if {
	not windows
	some path, c in containers
	t := object.get(c, ["securityContext", "seccompProfile", "type"], object.get(input.spec, ["securityContext", "seccompProfile", "type"], ""))
	not t in {"RuntimeDefault", "Localhost", "Unconfined"}
	name := object.get(c, "name", "")
}

# --- Capabilities --------------------------------------------------------------
violation contains {
	"rule": "capabilities", "container": name,
	"field": concat("", [path, ".securityContext.capabilities.drop"]),
	"msg": sprintf("container \"%s\" must drop ALL capabilities", [name]),
} if {
	not windows
	some path, c in containers
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
	name := object.get(c, "name", "")
}

# Adds outside the default set are baseline's finding; restricted allows only NET_BIND_SERVICE.
violation contains {
	"rule": "capabilities", "container": name,
	"field": concat("", [path, ".securityContext.capabilities.add"]),
	"msg": sprintf("container \"%s\" adds %s (restricted allows only NET_BIND_SERVICE)", [name, data.caisson.pss.baseline.caps_text(bad)]),
} if {
	on["sc.capabilities"]
	not windows
	some path, c in containers
	bad := {cap |
		some cap in c.securityContext.capabilities.add
		cap != "NET_BIND_SERVICE"
		data.caisson.pss.baseline.allowed_caps[cap]
	}
	count(bad) > 0
	name := object.get(c, "name", "")
}

# --- /proc mount type ----------------------------------------------------------
# Baseline lets a pod in its own user namespace unmask /proc; restricted does not
# (elsewhere baseline's proc-mount reports it).
violation contains {
	"rule": "proc-mount", "container": name,
	"field": concat("", [path, ".securityContext.procMount"]),
	"msg": sprintf("container \"%s\" uses procMount \"%s\" (only Default: masked /proc)", [name, c.securityContext.procMount]),
} if {
	on["sc.procMount"]
	user_namespaced
	some path, c in containers
	c.securityContext.procMount != "Default"
	name := object.get(c, "name", "")
}
