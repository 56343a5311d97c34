#!/usr/bin/env bash
# Builds the real clients the Terraform end-to-end test drives, from
# source: Terraform's CLI and Cloudflare's Terraform provider (v5). No
# registry is used: the test points Terraform at the provider through
# dev_overrides. The provider build takes about 40 minutes on 2 cores.
#
#   scripts/build-terraform.sh [DIR]     (default: .tools/terraform)
#
# The sources come from GitHub, or from local git directories named by
# TERRAFORM_GIT_DIR and CLOUDFLARE_PROVIDER_GIT_DIR (bare or not) where
# GitHub is out of reach. Their Go dependencies come from the module proxy.
#
# Prints the two environment variables make test-terraform reads.
set -euo pipefail
dir=${1:-.tools/terraform}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
tf_version=${TERRAFORM_VERSION:-v1.13.3}
provider_ref=${CLOUDFLARE_PROVIDER_REF:-v5.22.0}

fetch() { # repo ref dest [local git dir]
	if [ -e "$3/go.mod" ]; then
		return
	fi
	if [ -n "${4:-}" ]; then
		mkdir -p "$3"
		git --git-dir="$4" archive "$2" | tar -x -C "$3"
	else
		git clone --quiet --depth 1 --branch "$2" "https://github.com/$1.git" "$3"
	fi
}

if [ ! -x "$dir/terraform" ]; then
	fetch hashicorp/terraform "$tf_version" "$dir/src/terraform" "${TERRAFORM_GIT_DIR:-}"
	(cd "$dir/src/terraform" && GOFLAGS=-mod=mod go build -o "$dir/terraform" .)
fi
if [ ! -x "$dir/plugins/terraform-provider-cloudflare" ]; then
	fetch cloudflare/terraform-provider-cloudflare "$provider_ref" "$dir/src/provider" "${CLOUDFLARE_PROVIDER_GIT_DIR:-}"
	mkdir -p "$dir/plugins"
	(cd "$dir/src/provider" && go build -o "$dir/plugins/terraform-provider-cloudflare" .)
fi
echo "GATEHOUSE_TERRAFORM=$dir/terraform"
echo "GATEHOUSE_TF_PROVIDER_DIR=$dir/plugins"
