#include "ops/ops.h"

#include "backends/cpu/cpu_ops.h"

namespace tritium::ops {

namespace {
const OpTable* g_tables[2] = {nullptr, nullptr};
}

void register_op_table(DeviceType type, const OpTable* table) { g_tables[int(type)] = table; }

const OpTable& op_table(Device device) {
  if (device.is_cpu()) return cpu::op_table();
  const OpTable* t = g_tables[int(device.type)];
  TRITIUM_CHECK(t, "no op implementations for device ", device.str(), " (was tritium built with CUDA, and initialised?)");
  return *t;
}

}  // namespace tritium::ops
