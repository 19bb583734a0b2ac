/* Commands of the `weir` program. Each takes the arguments after the
 * command name (argv[0] is the command) and returns the exit status. */
#ifndef WEIR_CLI_H
#define WEIR_CLI_H

int weir_cmd_parse(int argc, char **argv);
int weir_cmd_check(int argc, char **argv);
int weir_cmd_replay(int argc, char **argv);

#endif /* WEIR_CLI_H */
