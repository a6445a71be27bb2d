package caisson.image.tests

import rego.v1

img(ref, pinned) := {"container": "c", "ref": ref, "registry": split(ref, "/")[0], "repository": "team/app", "pinned": pinned}

test_unpinned_image_denied if {
	vs := data.caisson.image.violation with input as {"images": [img("reg.example.com/team/app:1", false)]}
	{v.rule | some v in vs} == {"require-digest"}
}

test_allowed_registries if {
	vs := data.caisson.image.violation with input as {"images": [img("evil.example.com/team/app@sha256:00", true)]}
		with data.caisson.parameters as {"allowed_registries": ["reg.example.com"]}
	{v.rule | some v in vs} == {"allowed-registries"}
	count(data.caisson.image.violation) == 0 with input as {"images": [img("reg.example.com/team/app@sha256:00", true)]}
		with data.caisson.parameters as {"allowed_registries": ["reg.example.com/team/"]}
}

test_only_fixable_high_and_critical_vulnerabilities_deny if {
	scan := {"findings": [
		{"id": "CVE-1", "severity": "CRITICAL", "package": "openssl", "installed": "1", "fixed": "2"},
		{"id": "CVE-2", "severity": "HIGH", "package": "zlib", "installed": "1", "fixed": null},
		{"id": "CVE-3", "severity": "MEDIUM", "package": "bash", "installed": "1", "fixed": "2"},
	]}
	vs := data.caisson.image.violation with input as {"images": [], "scan": scan}
	[v.msg | some v in vs] == ["image has 1 fixable CRITICAL/HIGH vulnerabilities: CVE-1 (CRITICAL, openssl 1 -> 2)"]
}

test_secrets_in_layers_deny_even_when_deleted if {
	scan := {"findings": [], "secrets": [{"rule": "aws-access-key-id", "title": "AWS access key id", "file": "/root/.aws/credentials", "line": 2, "layer": "sha256:aa", "deleted_in": "sha256:bb"}]}
	vs := data.caisson.image.violation with input as {"images": [], "scan": scan}
	[v.rule | some v in vs] == ["secrets"]
}
