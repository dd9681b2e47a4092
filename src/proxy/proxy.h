// The capture proxy's interface: what a program needs to configure, build
// and run a proxy (the CLI's `tandem proxy` wires it to the log, the state
// store and verify's comparison). Other components include this header
// only (scripts/check-includes); it gathers the proxy's public headers:
//
//   write_capture.h  classify() and the WriteCapture seam between the
//                    server half and the capture half, CaptureStatus,
//                    make_capture()
//   config.h         ProxyConfig: YAML file and environment, validate()
//   server.h         Server and ServerDeps (roles, capture, classifier,
//                    metrics, upstreams, read tap)
//   upstream.h       UpstreamTarget: an upstream cluster as the server
//                    reaches it (URL, TLS context)
//   roles.h          RoleTable: primary and secondary, epoch, role switch
//                    and the fenced flip
//   metrics.h        ProxyMetrics (the server half's Prometheus registry)
//   reads.h          read capture and shadow reads
//   admin.h          AdminServer: /status, /metrics, /roles/switch, /flip
//
// Everything else under src/proxy (bulk parsing, capture events,
// durability, intents, the session, the front door) is internal.
#pragma once

#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/reads.h"
#include "proxy/roles.h"
#include "proxy/server.h"
#include "proxy/upstream.h"
#include "proxy/write_capture.h"
