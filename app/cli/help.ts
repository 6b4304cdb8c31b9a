// `gantry --help`: the usage of every command, in one screen.

export const HELP = `gantry — self-hosted automation and CI/CD runtime; pipelines are TypeScript files

usage: gantry <command> [arguments]

server
  gantry serve [--log-format json]               start the server (web UI, API, schedules)
  gantry dev <file> [-i NAME=VALUE]... [-v KEY=VALUE]... [--approve | --reject] [--watch]
                                                 run a pipeline file locally, no server; approval
                                                 gates are asked at the terminal (or decided by
                                                 the flag; rejected off a terminal without one);
                                                 --watch runs it again on each save
  gantry test [path]... [-- bun test options]    run the *.test.ts beside pipeline files (default:
                                                 the pipelines folder) with gantry/testing
  gantry status [--json]                         server health: database, Docker engine
  gantry system status [--json]                  paused or not, the nodes (server processes), warm runners
  gantry system pause [--json]                   new runs wait queued; running ones finish
  gantry system resume [--json]                  queued runs start, in order
  gantry backup <file> [--force]                 download a backup from the running server (database
                                                 snapshot, logs, objects, bundles; NOT the secret key)
  gantry restore <file> [--data-dir DIR] [--check]
                                                 fill an empty data dir from a backup (server stopped);
                                                 --check only verifies the file
  gantry runner-image [--tag local/gantry-runner:<version>] [--binary <path>] [--base IMAGE]
                                                 build the image swarm services run run() tasks
                                                 in, on GANTRY_DOCKER_HOST: the compiled binary
                                                 and its shared libraries FROM a local base
                                                 (default local/busybox:latest; never pulled)

pipelines
  gantry pipeline ls [--namespace NS] [--json]   pipelines the server has loaded
  gantry pipeline get <ns/id> [--json]           tasks, inputs, current version (and its commit), load error
  gantry pipeline versions <ns/id> [--json]      its versions, newest first, with the commit of each
  gantry pipeline diff <ns/id> [<version> [<against>]] [--json]
                                                 what changed in a version's files, as a unified
                                                 diff (default: the current version against the
                                                 one before)
  gantry pipeline validate <file> [--namespace NS]  check a pipeline file locally (and its webhook secrets on the server)
  gantry pipeline subscriptions <ns/id> [--json] its subscriptions to extensions, with errors
  gantry pipeline subscribe <ns/id> <extension> [--param KEY=VALUE]... [--params-json '{...}']
                                                 subscribe it to an extension (a schedule, hook...)
  gantry pipeline unsubscribe <ns/id> <subscription id>
                                                 remove one (those from triggers: edit the file)

runs
  gantry run start <ns/id> [-i NAME=VALUE]... [-v KEY=VALUE]... [--commit <sha>] [--wait] [--json]
                                                 start a run; -i gives a typed input (converted by
                                                 the pipeline's schema; missing required ones are
                                                 asked for at a terminal); --commit runs a git
                                                 source's pipeline as of a synced commit (the
                                                 version it left current); --wait follows it to
                                                 its end, waiting gates included
  gantry run rerun <ns/id> <run> [--failed] [--wait] [--json]
                                                 run an ended run again (same version, variables);
                                                 --failed keeps its successful tasks (reused)
  gantry run ls <ns/id> [--limit N] [--json]     newest runs first; queued ones with their place
  gantry run get <ns/id> <run> [--json]          a run (why it waits, if queued; a gate waiting
                                                 for approval), inputs, tasks, attempts
  gantry run cancel <ns/id> <run>                stop a run's tasks (SIGTERM, then SIGKILL)
  gantry run approve <ns/id> <run> <task> [-m comment]
                                                 approve a gate waiting for approval
  gantry run reject <ns/id> <run> <task> [-m comment]
                                                 reject it: the gate fails ("rejected by you: comment")
  gantry run approvals [--json]                  gates waiting for a decision; which you may decide
  gantry run exec <ns/id> <run> <task> [-- command [args...]]
                                                 a shell (sh unless a command follows --) in a
                                                 running container task; exits with the command's
                                                 code; needs runs:exec (admin)
  gantry logs <ns/id> <run> <task> [-f] [--attempt N]
                                                 a task's log; -f follows it live, --attempt N
                                                 prints one attempt's part
  gantry logs <ns/id> <run> [task] --grep TEXT [--only stderr|errors] [--json]
                                                 search a run's logs (every line, on the server):
                                                 prints <task>:<line>: <text> per match;
                                                 exit 1 when none does (as grep)

sources (git repositories pipelines are loaded from; "local" is the pipelines folder)
  gantry source ls [--json]                      each source's namespace, branch, state, head commit
  gantry source get <name> [--json]              settings, state, error, pipelines, recent commits
                                                 (✓: it changed the folder and was loaded)
  gantry source add <name> --repo <url> [--branch main] [--path .gantry] [--namespace NS]
         [--auth secret:<name>] [--hook-secret secret:<name>] [--poll 1m|off] [--sync] [--json]
                                                 add a source (namespace: its name by default); it
                                                 syncs in the background, or now with --sync
  gantry source set <name> [--repo <url>] [--branch B] ... [--sync] [--json]
                                                 change the flags given, keep the rest (--auth none,
                                                 --hook-secret none: drop them)
  gantry source rm <name>                        delete a source; its pipelines are retired (runs
                                                 and versions stay readable)
  gantry source sync <name> [--json]             sync now: new commits, versions made, files that
                                                 failed to load (exit 0; 2 if the repository
                                                 cannot be reached)

environments (deployment targets: a Docker Swarm manager and the secrets its deploys get; shared
by every namespace, or a namespace's own with -n, which its pipelines deploy to first)
  gantry env ls [-n NS] [--json]                 each environment's namespace, status, provider,
                                                 target and secrets (-n: those NS's deploys reach)
  gantry env get <name> [-n NS] [--json]         settings, status, what runs there now (image, run
                                                 that deployed it) and its last 50 deployments
  gantry env set <name> [-n NS] [--provider swarm] [--docker-host unix:///path|tcp://host:port|none]
         [--registry HOST:PORT|none] [--registry-auth SECRET|none]
         [--secret NAME]... [--no-secrets] [--description TEXT] [--json]
                                                 create (--provider required) or change one; flags
                                                 not given keep their value; each --secret names a
                                                 global secret given to deploys as a variable;
                                                 --registry: where deploys push their image first,
                                                 --registry-auth: the global secret of its login
  gantry env rm <name> [-n NS]                   delete it and its deployment history (its services
                                                 keep running on the target)
  gantry env test <name> [-n NS] [--json]        test the connection: the engine answers and is a
                                                 swarm manager (exit 0), or why not (exit 1); the
                                                 answer becomes its status
  gantry deploy rollback <env> <service> [-n NS] [--json]
                                                 redeploy the service's previous successful image;
                                                 exit 0 once it runs it, 1 when the rollback failed

secrets
  gantry secret set <name> [--pipeline <ns/id>]  set a secret; the value comes from stdin or a
                                                 hidden prompt, never from the command line
  gantry secret ls [--pipeline <ns/id>] [--json] names, scope and dates (never values)
  gantry secret rm <name> [--pipeline <ns/id>]   delete a secret
  gantry secret rotate-key [--json]              re-encrypt every secret under a new key

objects (a pipeline's; a run's with --run N)
  gantry object put <ns/id> <key> [file] [--run N]
                                                 store the bytes of file (or stdin) under key
  gantry object get <ns/id> <key> [--run N] [-o file]
                                                 the raw bytes, to stdout unless -o
  gantry object ls <ns/id> [--run N] [--json]    keys, sizes, sha256 and dates
  gantry object rm <ns/id> <key> [--run N]       delete an object

artifacts (what a run's tasks stored: files or folders as tars, checked by sha256)
  gantry artifact ls <ns/id> <run> [--json]      names, tasks, paths, sizes and sha256
  gantry artifact get <ns/id> <run> <name> [-o file | --extract dir]
                                                 the tar, to stdout unless -o; --extract
                                                 unpacks it at its path under dir

extensions
  gantry extension ls [--json]                   state, restarts, subscriptions and error of each
  gantry extension logs <id>                     an extension's recent log

tokens
  gantry token create <name> [--role admin|viewer]... [--expires <ISO time|30d>] [--json]
                                                 a new API token; its secret is shown once
  gantry token ls [--json]                       all tokens
  gantry token revoke <id>                       revoke a token

users (people who sign in through OIDC or GitHub)
  gantry user ls [--json]                        people, their roles, last sign-in, state
  gantry user get <id> [--json]                  one person: groups, mapped and granted roles
  gantry user disable <id>                       their sessions and personal tokens stop at once
  gantry user enable <id>                        they may sign in again
  gantry user grant <id> <role>...               grant roles (kept across sign-ins)
  gantry user revoke <id> <role>...              revoke granted roles

  gantry version                                 the version of this gantry

<ns/id> is a namespace and pipeline id, or just the id for namespace "default".
The CLI talks to the server's JSON API: GANTRY_URL (default http://127.0.0.1:8080) and
GANTRY_TOKEN, or url = "..." and token = "..." in ~/.gantry.toml.

exit codes: 0 success · 1 a failed run (with --wait), an invalid file (validate) or a
            failed connection test (env test)
            2 a usage error or a failed request
            run exec: the command's own exit code (2 too when the server refused)`;
