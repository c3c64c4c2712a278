// Command atrium is the Atrium server and its administration CLI: serve,
// migrate, clients, users and keys. It loads the configuration, opens the
// stores and wires the packages together; it holds no protocol logic.
package main
