"""The healthy background of a job's logs: start-up lines, common warnings, benign kernel lines.

Modelled on real captures (torch/NCCL start-up output, the gpud dmesg/kmsg fixtures kept in
tests/data/sim/, Ubuntu boot logs). `safe_keys` drops any template that some root catalog rule
claims, so background never reads as a fault. Used by `sim.ranklog` and `sim.kernel`.
"""

from __future__ import annotations

from trainmedic.catalog import Catalog

TORCH_VERSION = "2.5.1+cu124"
NCCL_VERSION = "2.21.5"
PY_SITE = "/usr/local/lib/python3.10/dist-packages"

# stderr warnings every rank prints once at start-up (torch 2.4/2.5 wording).
STARTUP_WARNINGS: dict[str, str] = {
    "barrier": (
        "[rank{rank}]:[{glog} ProcessGroupNCCL.cpp:4115] [PG ID 0 PG GUID 0 Rank {rank}]  using GPU {local} to "
        "perform barrier as devices used by this process are currently unknown. This can potentially cause a "
        "hang if this rank to GPU mapping is incorrect.Specify device_ids in barrier() to force use of a "
        "particular device,or call init_process_group() with a device_id."
    ),
    "autocast": (
        f"{PY_SITE}/torch/utils/checkpoint.py:1399: FutureWarning: `torch.cpu.amp.autocast(args...)` is "
        "deprecated. Please use `torch.amp.autocast('cpu', args...)` instead.\n"
        "  with device_autocast_ctx, torch.cpu.amp.autocast(**cpu_autocast_kwargs), recompute_context:  "
        "# type: ignore[attr-defined]"
    ),
    "typed_storage": (
        f"{PY_SITE}/torch/_utils.py:776: UserWarning: TypedStorage is deprecated. It will be removed in the "
        "future and UntypedStorage will be the only storage class. This should only matter to you if you are "
        "using storages directly.  To access UntypedStorage directly, use tensor.untyped_storage() instead of "
        "tensor.storage()\n  return self.fget.__get__(instance, owner)()"
    ),
}

# Occasional stdout warnings from the training script during healthy steps.
STEP_WARNINGS: dict[str, str] = {
    "clip": "WARNING [rank {rank}] step {step}: grad norm {gn:.2f} above clip 1.0, clipped",
    "slow_io": "WARNING [rank {rank}] step {step}: data loader waited {wait:.2f}s for the next batch",
}

# torchrun's own start-up banner (torch/distributed/run.py, WARNING level).
AGENT_BANNER = (
    "",
    "*****************************************",
    "Setting OMP_NUM_THREADS environment variable for each process to be 1 in default, to avoid your "
    "system being overloaded, please further tune the variable for optimal performance in your "
    "application as needed. ",
    "*****************************************",
)

# Kernel lines at boot (node's boot time), with {bus} an HGX GPU bus (kernel form) and {nic} a NIC bus.
KERNEL_BOOT: dict[str, str] = {
    "version": (
        "Linux version 5.15.0-122-generic (buildd@lcy02-amd64-034) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) "
        "11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #132-Ubuntu SMP Thu Aug 29 13:45:52 UTC 2024 "
        "(Ubuntu 5.15.0-122.132-generic 5.15.163)"
    ),
    "cmdline": "Command line: BOOT_IMAGE=/boot/vmlinuz-5.15.0-122-generic root=UUID={uuid} ro "
    "pci=realloc=off iommu=pt",
    "taint": "nvidia: loading out-of-tree module taints kernel.",
    "nvlink": "nvidia-nvlink: Nvlink Core is being initialized, major device number 508",
    "nvrm": "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.90.07  Fri May 31 09:35:42 UTC 2024",
    "mlx_fw": "mlx5_core 0000:{nic}:00.0: firmware version: 28.39.1002",
    "mlx_bw": "mlx5_core 0000:{nic}:00.0: 252.048 Gb/s available PCIe bandwidth (16.0 GT/s PCIe x16 link)",
    "ib_up": "IPv6: ADDRCONF(NETDEV_CHANGE): ib{port}: link becomes ready",
    "persist": "NVRM: Persistence mode is enabled for device 0000:{bus}:00.0.",
}

# Kernel lines at any time while the node runs (benign; seen on every busy GPU server).
KERNEL_RUNTIME: dict[str, str] = {
    "nvswitch": "nvidia-nvswitch{sw}: open (major=510)",
    "perf": "perf: interrupt took too long (2503 > 2500), lowering kernel.perf_event_max_sample_rate to 79750",
    "cali": "IPv6: ADDRCONF(NETDEV_CHANGE): cali{cali}: link becomes ready",
    "eth": "IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
    "audit": 'audit: type=1400 audit({epoch}.{ms:03d}:{n}): apparmor="STATUS" operation="profile_replace" '
    'info="same as current profile, skipping" profile="unconfined" name="docker-default" pid={pid} '
    'comm="apparmor_parser"',
}

# Benign at teardown, when CUDA processes using GPUDirect RDMA exit (gpud fixture kmsg.2.peermem).
KERNEL_TEARDOWN = {
    "peermem": "nvidia-peermem nv_get_p2p_free_callback:127 ERROR detected invalid context, skipping further "
    "processing",
}

# Only on the master node while 18k ranks connect to the rendezvous store.
KERNEL_MASTER = {
    "syn": "TCP: request_sock_TCP: Possible SYN flooding on port {port}. Sending cookies.  Check SNMP counters.",
}

XID45 = "NVRM: Xid (PCI:{bus}): 45, pid={pid}, name=python3, Ch {ch:08x}"
"""Xid 45 (preemptive cleanup) as the driver logs it when a process with work on the card is killed."""

_SAMPLE = {
    "rank": 12, "local": 4, "glog": "W1127 13:43:44.123456789", "step": 1234, "gn": 3.2, "wait": 1.5,
    "uuid": "0b1e5c1d-7d8e-4a0f-9d53-2f6c1a7e9b01", "nic": "0c", "bus": "18", "port": 0, "sw": 0,
    "cali": "317e2eeb40", "epoch": 1795737600, "ms": 1, "n": 412, "pid": 4242, "ch": 8,
}


def safe_keys(catalog: Catalog) -> frozenset[str]:
    """Template keys (section:key) whose sample line no root rule claims: background never reads as a fault."""
    out = set()
    sections = {
        "warn": STARTUP_WARNINGS, "step": STEP_WARNINGS, "boot": KERNEL_BOOT, "run": KERNEL_RUNTIME,
        "down": KERNEL_TEARDOWN, "master": KERNEL_MASTER, "xid": {"45": XID45},
    }
    for section, table in sections.items():
        for key, template in table.items():
            sample = template.format(**{**_SAMPLE, "bus": "0000:18:00"} if section == "xid" else _SAMPLE)
            if not any(m.rule.role == "root" for m in catalog.match_text(sample)):
                out.add(f"{section}:{key}")
    return frozenset(out)
