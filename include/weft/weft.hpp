// The umbrella header: everything a weft program uses.
#pragma once

#include <weft/fibers/fiber_local.hpp>
#include <weft/scheduler/runtime.hpp>
#include <weft/scheduler/task.hpp>
#include <weft/channels/chan.hpp>
#include <weft/channels/select.hpp>
#include <weft/channels/sync.hpp>
#include <weft/channels/time.hpp>
#include <weft/channels/context.hpp>
#include <weft/io/tcp.hpp>
