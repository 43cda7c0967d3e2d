{
  "targets": [
    {
      "target_name": "hotpatch_native",
      "sources": ["native/addon.cc", "native/tracer.cc", "native/symscan.cc", "native/demangle.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
