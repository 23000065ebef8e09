#ifndef CKEEL_SPAWN_H
#define CKEEL_SPAWN_H

#include <spawn.h>

/// Adds "close every descriptor from `lowest` up" to a spawn's file actions (glibc's
/// posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not import). A child spawned by a
/// test then inherits only its standard descriptors, never another test's pipe. Returns 0 or an errno value.
int ckeel_spawn_add_close_from(posix_spawn_file_actions_t *actions, int lowest);

#endif
