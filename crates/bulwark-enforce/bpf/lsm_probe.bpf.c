/* A no-op BPF-LSM program: loaded once at start-up to learn whether this
 * kernel allows BPF-LSM (see src/backend.rs). Never attached. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("lsm/bprm_check_security")
int BPF_PROG(bulwark_lsm_probe, struct linux_binprm *bprm)
{
	return 0;
}
