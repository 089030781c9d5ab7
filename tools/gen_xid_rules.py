"""Generate `catalog/rules/nvidia_xid.yaml` from the Xid table below (one row per Xid code).

The table is transcribed from NVIDIA's Xid catalog (docs.nvidia.com/deploy/xid-errors, resolution
buckets as mirrored by gpud's catalog_generated.go and DCGM's health mapping), reduced to the codes
that matter for training clusters and mapped onto trainmedic's vocabulary. Edit the table, then run
    python tools/gen_xid_rules.py
and commit both files; `trainmedic catalog check` validates the result.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parents[1] / "src" / "trainmedic" / "catalog" / "rules" / "nvidia_xid.yaml"
DOCS = "https://docs.nvidia.com/deploy/xid-errors/"
BUS = r"[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(?:\.[0-7])?"
# `NVRM: Xid (PCI:0000:09:00): 79, pid=...`; older drivers omit `PCI:`; some pasted logs elide the id.
PREFIX = r"NVRM: Xid \((?:PCI:)?(?:(?P<bus_id>" + BUS + r")|[^)]*)\): "

R, C, INFO = "root", "cascade", "info"

# code, mnemonic, title, component, role, severity, action, escalation (count, hours, action) or None,
# explanation, example (text, source or "" for a constructed line)
TABLE: list[tuple] = [
    (8, "FIFO_ERROR_IDLE_TIMEOUT", "GPU stopped processing (FIFO idle timeout)", "accelerator", R, "error",
     "restart_job", (2, 24, "reset_card"),
     "The GPU's host interface stopped making progress on a channel. Usually a hung kernel or a driver "
     "fault; the job on this card is dead. Restart the job; if it repeats on the same card, reset the GPU "
     "and run field diagnostics.",
     ("NVRM: Xid (PCI:0000:3b:00): 8, pid=20188, name=python3, Channel 00000010", "")),
    (13, "GR_EXCEPTION", "Graphics engine exception (SM warp error, out-of-range address)", "software", R, "error",
     "restart_job", (3, 24, "reset_card"),
     "A kernel running on the GPU faulted: an illegal instruction or an out-of-range address inside "
     "the SM. Alone it is almost always the application or a library (bad kernel, out-of-bounds index). "
     "If the same GPC/TPC faults again and again on one card across different jobs, suspect the card: "
     "run DCGM diagnostics (dcgmi diag -r 3) and field diagnostics.",
     ("kern  :warn  : 2025-01-21T04:41:44,283575+00:00 NVRM: Xid (PCI:0000:38:00): 13, pid='<unknown>', "
      "name=<unknown>, Graphics SM Warp Exception on (GPC 9, TPC 1, SM 1): Out Of Range Address",
      "shared/data/gpud-testdata components_memory_testdata_dmesg.decode.iso.log")),
    (31, "FIFO_ERROR_MMU_ERR_FLT", "GPU memory page fault (MMU fault)", "software", R, "error",
     "restart_job", (3, 24, "reset_card"),
     "The GPU's MMU saw an access to an unmapped or protected address: usually an application bug "
     "(illegal memory access, use after free) or a library. If several GPUs fault within a minute it is "
     "the application; if one card faults for every job, or a PCIe error came just before, suspect "
     "the card or its link.",
     ("[Fri Jan 29 23:42:34 2021] NVRM: Xid (PCI:0000:db:00): 31, pid=13641, Ch 00000008, intr 00000000. "
      "MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_10 faulted @ 0x7fd7_90743000. Fault is of type FAULT_PDE "
      "ACCESS_TYPE_VIRT_READ", "shared/data/real-fault-excerpts rfe-006 (pytorch/pytorch#51382)")),
    (32, "PBDMA_ERROR", "Invalid or corrupted push buffer stream", "driver", R, "error", "restart_job",
     (3, 24, "reset_card"),
     "The GPU read a corrupted command stream. Caused by the driver, the application, or memory "
     "corruption on the way over PCIe. Restart the job; repeats on one card point to the card or its slot.",
     ("[24128.828315] NVRM: Xid (PCI:0000:01:00): 32, Channel ID 00000000 intr 00004000",
      "Bumblebee-Project/Bumblebee#677")),
    (38, "DRIVER_FIRMWARE_ERROR", "Driver firmware error", "driver", R, "error", "reset_card", None,
     "The driver detected an error in GPU firmware. Reset the GPU; if it repeats, update the driver and "
     "firmware and contact the vendor.",
     ("NVRM: Xid (PCI:0000:1a:00): 38, pid=3315, name=python, Driver firmware error", "")),
    (43, "RESETCHANNEL_VERIF_ERROR", "GPU stopped a channel after an application fault", "software", C, "warning",
     "none", None,
     "The driver reset one channel because the process using it faulted or was killed. It is a "
     "consequence, not a cause: look for the error that killed the process (a CUDA error or an earlier "
     "Xid 13/31 on the same bus id). Other processes on the card are unaffected.",
     ("[Wed Jan 27 23:04:35 2021] NVRM: Xid (PCI:0000:3d:00): 43, pid=35521, Ch 00000008",
      "shared/data/real-fault-excerpts rfe-006 (pytorch/pytorch#51382)")),
    (44, "GR_FAULT_DURING_CTXSW", "Graphics engine fault during context switch", "driver", R, "error",
     "reset_card", None,
     "A fault happened while the GPU switched contexts; the GPU may need a reset. Reset it; if it "
     "repeats, update the driver and contact the vendor.",
     ("NVRM: Xid (PCI:0000:86:00): 44, pid=9931, name=python3, Ch 00000018, intr 00000000", "")),
    (45, "PREEMPTIVE_REMOVAL", "Channel cleaned up after an earlier error (preemptive removal)", "software", C,
     "info", "none", None,
     "The driver tore down a channel because its process was killed or because of an earlier Xid "
     "(the line may say 'caused by previous Xid N'). Xid 45 floods by the thousand after one real "
     "fault; never treat it as the cause. Look for the earlier Xid it names, on the same or another "
     "GPU of this node, or for the process's own error.",
     ("kernel: NVRM: Xid (PCI:0000:dc:00): 45, pid=1818990, name=python3, Ch 00000001 caused by previous Xid 149",
      "shared/data/real-fault-excerpts rfe-022 (NVIDIA/open-gpu-kernel-modules#1150)")),
    (46, "GPU_TIMEOUT_ERROR", "GPU stopped processing (timeout)", "accelerator", R, "error", "reset_card",
     (2, 168, "replace_card"),
     "The GPU stopped responding to work. Reset the card; a repeat within a week makes it a repair candidate.",
     ("NVRM: Xid (PCI:0000:5e:00): 46, pid=77101, name=python, GPU stopped processing", "")),
    (48, "GPU_ECC_DBE", "Uncorrectable double-bit ECC error in GPU memory", "memory", R, "critical", "reset_card",
     (2, 168, "replace_card"),
     "GPU memory returned data with an uncorrectable (double-bit) error. Every process on the card is "
     "affected. Reset the GPU so the failing row is remapped (watch for Xid 63/64 next); check the "
     "remapped-rows counters with `nvidia-smi -q -d ROW_REMAPPER`. Repeats, or a failed remap (Xid 64), "
     "mean the card should be replaced.",
     ("Dec  2 11:38:47 worker4 kernel: [  219.470994] NVRM: Xid (PCI:0000:07:00): 48, pid='<unknown>', "
      "name=<unknown>, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer "
      "at physAddr 0x7fffa8860 partition 7, subpartition 1.",
      "shared/data/real-fault-excerpts rfe-009 (NVIDIA/gpu-operator#1146)")),
    (54, "PWR_REDUCED_CLOCKING", "Auxiliary power not connected or insufficient", "host", R, "warning", "drain_node",
     None,
     "The card runs at reduced clocks because its auxiliary power is missing or low. It will be a "
     "straggler. Drain the node and check the power cables and the PSU.",
     ("NVRM: Xid (PCI:0000:41:00): 54, pid=0, Auxiliary power is not connected to the GPU board", "")),
    (56, "DISPLAY_ERROR", "Display engine error", "driver", INFO, "info", "none", None,
     "Display engine error; irrelevant for compute nodes unless it repeats with other Xids.",
     ("NVRM: Xid (PCI:0000:65:00): 56, pid=0, CMDre 00000000 00000080 00000000 00000005 00000005", "")),
    (57, "FB_ERROR", "Error programming video memory interface", "memory", R, "error", "reset_card",
     (2, 168, "replace_card"),
     "The driver could not program the memory interface. Reset the GPU; a repeat points to the card.",
     ("NVRM: Xid (PCI:0000:65:00): 57, pid=0, Error programming video memory interface", "")),
    (61, "PMU_BREAKPOINT", "Internal micro-controller breakpoint/warning", "driver", R, "warning", "reset_card",
     None,
     "The GPU's power-management micro-controller hit a breakpoint (on older GPUs also a power-brake "
     "event). Reset the GPU if work stalls; update the driver; contact the vendor if it repeats.",
     ("NVRM: Xid (PCI:0000:02:00): 61, pid=0, 0cc6(3020) 00000000 00000000", "")),
    (62, "PMU_HALT_ERROR", "Internal micro-controller halted", "driver", R, "error", "reset_card",
     (2, 168, "contact_vendor"),
     "The power-management micro-controller halted; the GPU may be thermally unsafe or hung. Reset it; "
     "check temperatures and cooling; repeats need the vendor.",
     ("NVRM: Xid (PCI:0000:02:00): 62, pid=0, 1fbd(2f9c) 0001d7e0 00000000", "")),
    (63, "INFOROM_DRAM_RETIREMENT_EVENT", "GPU memory row remapped or page retired (pending)", "memory", R,
     "warning", "reset_card", (3, 168, "replace_card"),
     "The driver recorded a memory row remap (or page retirement) after an ECC error. The remap takes "
     "effect only after a GPU reset: drain the card's work, reset it, and confirm with "
     "`nvidia-smi -q -d ROW_REMAPPER` that nothing is pending. Many remaps in a week, or a failure "
     "(Xid 64), make it a replacement.",
     ("NVRM: Xid (PCI:0000:10:1c): 63, pid=1896, Row Remapper: New row marked for remapping, reset gpu to activate.",
      "shared/reference/existing-software.md §5.5 (ml-engineering guide)")),
    (64, "INFOROM_DRAM_RETIREMENT_FAILURE", "GPU memory row remap or page retirement failed", "memory", R,
     "critical", "replace_card", None,
     "The card ran out of spare rows (or could not record the retirement): the bad memory cannot be "
     "fenced off. Take the card out of service and open an RMA.",
     ("Dec  2 11:38:47 worker4 kernel: [  219.471050] NVRM: Xid (PCI:0000:07:00): 64, pid='<unknown>', "
      "name=<unknown>, Dynamic Page Retirement: Blacklisting failed.  Page should have been blacklisted "
      "on boot(0x00000000007fffa8).", "shared/data/real-fault-excerpts rfe-009 (NVIDIA/gpu-operator#1146)")),
    (68, "NVDEC0_EXCEPTION", "Video decoder exception", "software", R, "warning", "restart_process", None,
     "The video decoder engine faulted, usually because of the application's input. Restart the process.",
     ("NVRM: Xid (PCI:0000:af:00): 68, pid=4521, name=python3, NVDEC0 Exception: Error code 0x00000004", "")),
    (69, "GR_CLASS_ERROR", "Graphics engine class error", "driver", R, "error", "restart_job", None,
     "The graphics engine rejected a command class. Usually a driver or application problem; restart the job.",
     ("NVRM: Xid (PCI:0000:01:00): 69, pid=1043, Class Error: ChId 0010, Class 0000c7c0, Offset 00000100", "")),
    (74, "NVLINK_ERROR", "NVLink error", "interconnect", R, "critical", "reset_card", (2, 168, "replace_card"),
     "An NVLink link reported a fatal error; collectives over NVLink on this node stall or fail. Decode "
     "the registers on the line (signal integrity vs. ECC/parity vs. hardware), reset the GPU, and run "
     "`nvidia-smi nvlink -e`. Repeats on the same link: reseat the card or baseboard and contact the vendor.",
     ("[449410.332316] NVRM: Xid (PCI:0003:00:00): 74, pid='<unknown>', name=<unknown>, NVLink: fatal error "
      "detected on link 14(0x0, 0x0, 0x10000, 0x0, 0x0, 0x0, 0x0)",
      "NVIDIA NVSentinel XID 74 workflow design doc (message format section)")),
    (79, "GPU_HAS_FALLEN_OFF_THE_BUS", "GPU has fallen off the bus", "accelerator", R, "critical", "drain_node",
     (2, 168, "replace_card"),
     "The card stopped answering on PCIe: the driver can no longer reach it. Every process on the card "
     "dies and its peers time out. Drain the node and reboot it; if it recurs, reseat or replace the card "
     "and check the riser, cabling, power and cooling.",
     ("[1084456.074562] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus.",
      "shared/data/real-fault-excerpts rfe-002 (NVIDIA/nvidia-docker#1553)")),
    (92, "EXCESSIVE_SBE_INTERRUPTS", "High single-bit ECC error rate", "memory", R, "warning", "none",
     (3, 168, "reset_card"),
     "Correctable errors arrive fast enough to be interrupting the driver. Nothing fails yet, but this "
     "predicts uncorrectable errors: watch the card, and reset it at the next checkpoint if it continues.",
     ("NVRM: Xid (PCI:0000:1b:00): 92, pid=0, High single-bit ECC error rate", "")),
    (94, "CONTAINED_ERROR", "Contained ECC error (only the affected application was stopped)", "memory", R,
     "error", "restart_job", (5, 24, "reset_card"),
     "An uncorrectable memory error hit, and the driver contained it: only the process using that "
     "memory was stopped, the card is usable. Restart the job; the row is remapped at the next reset. "
     "Bursts of Xid 94 on one card mean failing memory: reset, then replace if it repeats.",
     ("NVRM: Xid (PCI:0000:9b:00): 94, pid=1234, name=python3, Contained ECC error", "leptonai/gpud#1174")),
    (95, "UNCONTAINED_ERROR", "Uncontained ECC error (all work on the GPU affected)", "memory", R, "critical",
     "reset_card", (2, 168, "replace_card"),
     "An uncorrectable memory error could not be contained: every process on the card is affected and "
     "the GPU must be reset before it is used again (until then CUDA reports it busy or unavailable). "
     "Reset it, check remapped rows, and replace the card if it repeats.",
     ("diff:371;NVRM: Xid (PCI:0000:37:00): 95, pid=5171, Uncontained: FBHUB. RST: Yes, D-RST: No",
      "operator repair ticket quoted in a public repository")),
    (109, "CTXSW_TIMEOUT_ERROR", "Context switch timeout", "accelerator", R, "error", "reset_card",
     (2, 168, "contact_vendor"),
     "The GPU could not switch contexts in time, often after an earlier SM exception (Xid 13) or a hung "
     "kernel. Reset the GPU; if it repeats without an application cause, contact the vendor.",
     ("[Fri Aug 30 11:43:14 2024] NVRM: Xid (PCI:0000:cb:00): 109, pid=1797828, name=pt_main_thread, "
      "Ch 00000008, errorString CTX SWITCH TIMEOUT, Info 0x58005", "leptonai/gpud#46")),
    (110, "SEC_FAULT_ERROR", "Security fault", "driver", R, "critical", "reset_card", None,
     "The GPU raised a security fault. Reset it and update the driver/firmware; contact the vendor if it repeats.",
     ("NVRM: Xid (PCI:0000:ca:00): 110, pid=0, Security fault error", "")),
    (119, "GSP_RPC_TIMEOUT", "GSP firmware RPC timeout", "driver", R, "critical", "reset_card",
     (2, 168, "contact_vendor"),
     "The GPU System Processor stopped answering the driver. The GPU is hung: nvidia-smi itself may hang "
     "and the job stalls. Reset the GPU (or reboot the node); if it recurs, update the driver/firmware "
     "and contact the vendor.",
     ("[Sun Feb 23 16:24:18 2025] NVRM: Xid (PCI:0000:9b:00): 119, pid=2024380, name=nvidia-smi, Timeout "
      "after 6s of waiting for RPC response from GPU4 GSP! Expected function 103 (GSP_RM_ALLOC) (0x2081 0x4).",
      "shared/data/gpud-testdata dmesg-with-xid-119.log")),
    (120, "GSP_ERROR", "GSP firmware error", "driver", R, "critical", "reset_card", (2, 168, "contact_vendor"),
     "The GPU System Processor reported an error. Reset the GPU; update the driver if it repeats.",
     ("NVRM: Xid (PCI:0000:4e:00): 120, pid=0, GSP task exception: (0x0 0x3f 0x0)", "")),
    (121, "C2C_ERROR", "Chip-to-chip (C2C) link error", "interconnect", R, "error", "reset_card", None,
     "The Grace-Hopper/Blackwell chip-to-chip link reported an error. Reset the GPU; contact the vendor if it repeats.",
     ("NVRM: Xid (PCI:0009:01:00): 121, pid=0, C2C link error on link 3", "")),
    (123, "SPI_PMU_RPC_WRITE_FAIL", "PMU SPI write failure", "driver", R, "error", "reset_card", None,
     "The GPU's power-management unit failed an SPI write. Reset the GPU; contact the vendor if it repeats.",
     ("NVRM: Xid (PCI:0000:18:00): 123, pid=0, SPI PMU RPC write failed", "")),
    (136, "ALI_TRAINING_FAIL", "NVLink link training failed", "interconnect", R, "error", "reset_card",
     (2, 168, "replace_card"),
     "An NVLink link failed to train at GPU or driver initialization; the node runs with fewer links or "
     "none. Reset the GPU; if the same link fails again, reseat and check the NVLink path.",
     ("NVRM: Xid (PCI:0000:19:00): 136, pid=0, Link Training failed on link 7", "")),
    (137, "NVLINK_PRIV_ERR", "NVLink privileged register access error", "interconnect", R, "error", "reset_card",
     None,
     "An NVLink unit reported a privileged-register error, typically next to Xid 144-150 on NVLink5 "
     "systems. Follow the NVLink5 Xid that accompanies it; reset the GPU.",
     ("kernel: NVRM: Xid (PCI:...): 137, RLW_RXPIPE interrupt hit on link 11 on GPU0: PRIV Error",
      "shared/data/real-fault-excerpts rfe-021 (NVIDIA/nccl#2241, bus id elided by the reporter)")),
    (140, "UNRECOVERABLE_ECC_ERROR_ESCAPE", "Unrecoverable ECC error escaped containment", "memory", R, "critical",
     "reset_card", (2, 168, "replace_card"),
     "An ECC error could not be recovered. Reset the GPU; repeated occurrences mean failing memory.",
     ("NVRM: Xid (PCI:0000:3a:00): 140, pid=0, ECC unrecoverable error", "")),
    (143, "GPU_INIT_ERROR", "GPU initialization failure", "accelerator", R, "critical", "reset_card",
     (2, 168, "replace_card"),
     "The GPU failed to initialize. Reset it or reboot the node; if it fails again, the card needs repair.",
     ("NVRM: Xid (PCI:0000:c1:00): 143, pid=0, GPU Initialization Failure", "")),
]
# NVLink5 (GB200-class) unit errors: one rule each, the unit name is on the line.
NVLINK5 = [(144, "SAW"), (145, "RLW"), (146, "TLW"), (147, "TREX"), (148, "NVLPW_CTRL"), (149, "NETIR"),
           (150, "MSE")]
for code, unit in NVLINK5:
    example = {
        144: ("NVRM: Xid (PCI:0000:01:00): 144, SAW_MVB Nonfatal XC0 i0 Link 0 (0x00000001 0x00000008 0x00000000 "
              "0x00000000 0x00000000 0x00000000)", "leptonai/gpud#1160"),
        145: ("NVRM: Xid (PCI:0018:01:00): 145, RLW_RXPIPE Nonfatal XC0 i0 Link 13 (0x0409a0c2 0x00000008 "
              "0x00000001 0x00000000 0x00100000 0x00000004)", "leptonai/gpud#1174"),
        149: ("NVRM: Xid (PCI:0018:01:00): 149, NETIR_LINK_EVT Fatal XC0 i0 Link 08 (0x004505c6 0x00000000 "
              "0x00000000 0x00000000 0x00000000 0x00000000)", "shared/reference/existing-software.md §5.5"),
    }.get(code, (f"NVRM: Xid (PCI:0018:01:00): {code}, {unit} Fatal XC0 i0 Link 04 (0x00000000 0x00000001 "
                 "0x00000000 0x00000000 0x00000000 0x00000000)", ""))
    TABLE.append((code, f"NVLINK_{unit}_ERROR", f"NVLink5 {unit} unit error", "interconnect", R, "error",
                  "reset_card", (2, 168, "replace_card"),
                  f"An NVLink5 {unit} unit on this GPU reported an error (the line says Fatal or Nonfatal and "
                  "the link number). Nonfatal ones are often sympathetic; fatal ones stop NVLink traffic and "
                  "the collectives on this NVLink domain. Reset the GPU; repeated errors on the same link "
                  "mean the tray, cable cartridge or switch side needs inspection (check the NVSwitch SXid "
                  "lines and fabric manager log too).", example))
TABLE += [
    (151, "GPU_DEGRADED_MODE", "GPU in degraded mode after a key-rotation/security failure", "driver", R, "error",
     "reset_card", None,
     "The GPU entered a degraded mode. Reset the GPU; contact the vendor if it repeats.",
     ("NVRM: Xid (PCI:0000:53:00): 151, pid=0, GPU entered degraded mode", "")),
    (154, "GPU_RECOVERY_ACTION_CHANGED", "GPU recovery action changed (informational)", "driver", INFO, "info", "none",
     None,
     "The driver updated the recovery action it recommends for this GPU after an earlier Xid "
     "(none, GPU reset, node reboot, drain P2P). Not a fault by itself: act on the Xid that came "
     "before it, with the action named here (`nvidia-smi -q` shows 'GPU Recovery Action').",
     ("NVRM: Xid (PCI:0000:a8:00): 154, GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)",
      "")),
    (155, "NVLINK_SW_DEFINED_ERROR", "NVLink software-defined error", "interconnect", R, "error", "reset_card", None,
     "NVLink reported a software-defined error. Reset the GPU; check the fabric manager log.",
     ("NVRM: Xid (PCI:0000:18:00): 155, pid=0, NVLink SW defined error", "")),
    (156, "RESOURCE_RETIREMENT_EVENT", "GPU resource retirement event", "memory", R, "warning", "reset_card", None,
     "The GPU retired an internal resource (memory or SRAM) after errors; a reset activates it.",
     ("NVRM: Xid (PCI:0000:18:00): 156, pid=0, Resource retirement event", "")),
    (157, "RESOURCE_RETIREMENT_FAILURE", "GPU resource retirement failed", "memory", R, "critical", "replace_card",
     None, "The GPU could not retire a failing resource: take the card out of service and open an RMA.",
     ("NVRM: Xid (PCI:0000:18:00): 157, pid=0, Resource retirement failure", "")),
    (158, "GPU_FATAL_TIMEOUT", "GPU fatal timeout", "accelerator", R, "critical", "reset_card",
     (2, 168, "replace_card"),
     "The GPU hit a fatal timeout and stopped. Reset the GPU or reboot the node; repeats need repair.",
     ("NVRM: Xid (PCI:0000:18:00): 158, pid=0, GPU fatal timeout", "")),
    (171, "GPU_ECC_DRAM_UE", "Uncorrectable ECC error in GPU DRAM", "memory", R, "critical", "reset_card",
     (2, 168, "replace_card"),
     "Newer drivers' refinement of Xid 48 for DRAM: an uncorrectable memory error. Reset the GPU so the "
     "row is remapped; replace the card if it repeats or the remap fails.",
     ("NVRM: Xid (PCI:0000:4c:00): 171, pid=0, Uncorrectable ECC Error detected in DRAM", "")),
    (172, "GPU_ECC_SRAM_UE", "Uncorrectable ECC error in GPU SRAM", "memory", R, "critical", "reset_card",
     (2, 168, "replace_card"),
     "An uncorrectable error in on-chip SRAM. Reset the GPU; replace the card if it repeats.",
     ("NVRM: Xid (PCI:0000:4c:00): 172, pid=0, Uncorrectable ECC Error detected in SRAM", "")),
]


def rule(row: tuple) -> dict:
    code, mnemonic, title, component, role, severity, action, esc, explanation, (text, source) = row
    r: dict = {
        "id": f"nvidia.xid.{code}",
        "title": f"Xid {code}: {title}",
        "codes": [f"Xid {code}", mnemonic],
        "component": component,
        "role": role,
        "severity": severity,
        "action": action,
        "seen_in": ["kernel"],
        "priority": 10 if code in (79, 48, 95, 64, 74, 119) else 0,
        "patterns": [PREFIX + rf"(?P<code>{code}),"],
        "explanation": explanation,
    }
    if code == 45:
        r["patterns"] = [PREFIX + r"(?P<code>45),.*?(?:caused by previous Xid (?P<cause>\d+))?$"]
    if esc:
        r["escalation"] = {"count": esc[0], "window_h": esc[1], "action": esc[2]}
    r["references"] = [DOCS]
    ex: dict = {"text": text}
    if source:
        ex["source"] = source
    else:
        ex["real"] = False
        ex["source"] = "constructed from the NVRM Xid line format and the catalog's description"
    ex_fields = {"code": str(code)}
    if "PCI:..." not in text:
        start = text.index("Xid (") + 5
        ex_fields["bus_id"] = text[start : text.index(")", start)].removeprefix("PCI:")
    ex["fields"] = ex_fields
    r["examples"] = [ex]
    return r


def unknown_rule() -> dict:
    """A catch-all for every Xid code the table does not list (so a new code is never silent)."""
    known = "|".join(str(row[0]) for row in TABLE)
    return {
        "id": "nvidia.xid.unknown",
        "title": "Xid not in the catalog",
        "codes": ["Xid"],
        "component": "accelerator",
        "role": "root",
        "severity": "warning",
        "action": "none",
        "seen_in": ["kernel"],
        "patterns": [PREFIX + rf"(?!(?:{known}),)(?P<code>\d+),"],
        "explanation": "The driver reported an Xid this catalog does not describe. Look the code up in "
        "NVIDIA's Xid catalog and watch the card; if jobs on it fail, reset it. Then add the code to "
        "tools/gen_xid_rules.py.",
        "references": [DOCS],
        "examples": [{"text": "NVRM: Xid (PCI:0000:3b:00): 999, pid=0, Unknown error", "real": False,
                      "source": "constructed; Xid 999 is not in the catalog",
                      "fields": {"bus_id": "0000:3b:00", "code": "999"}}],
    }


def main() -> int:
    doc = {
        "family": "nvidia-xid",
        "description": "GENERATED by tools/gen_xid_rules.py from its Xid table; do not edit by hand. "
        "NVIDIA driver Xid events (NVRM lines in the kernel log).",
        "rules": [*(rule(row) for row in TABLE), unknown_rule()],
    }
    header = "# GENERATED by tools/gen_xid_rules.py -- edit the table there and rerun; do not edit by hand.\n"
    OUT.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=110, allow_unicode=True), encoding="utf-8")
    print(f"wrote {len(TABLE)} Xid rules to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
