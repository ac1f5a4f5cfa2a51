# Two outputs in build/Release: the addon the TypeScript layer loads (src/native/index.ts) and
# supervisor-shim, the exec shim every worker starts through (it sets LISTEN_PID to its own pid).
# A third, hello-worker, is the example worker in C (examples/c): the benchmark and the contract
# tests run it as an app that needs no warm-up.
{
  "targets": [
    {
      "target_name": "reuseport_supervisor",
      "sources": ["native/addon.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    },
    {
      "target_name": "supervisor-shim",
      "type": "executable",
      "sources": ["native/shim.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "hello-worker",
      "type": "executable",
      "sources": ["examples/c/hello-worker.c"],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=c11", "-Wall", "-Wextra", "-O2"]
    }
  ]
}
