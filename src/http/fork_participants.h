// Fork handling for the debug server. fork() copies the server's sockets
// (the listening socket, every client connection, the epoll set) into the
// child but not its threads: a child that never execs would keep the port
// bound after the parent exits and keep clients' connections from closing.
// Each running server registers here; one pthread_atfork() handler (installed
// on first use, never removed) lets each close its copies in the child.
//
// The handlers run inside fork(): before_fork() and after_fork_in_parent()
// may only take the participant's own short-held locks;
// after_fork_in_child() runs single-threaded and may only close fds and
// release those locks.
#pragma once

namespace syncscope::http::internal {

class ForkParticipant {
 public:
  virtual void before_fork() = 0;           // take the locks the child needs
  virtual void after_fork_in_parent() = 0;  // release them
  virtual void after_fork_in_child() = 0;   // close the copies, release the locks

 protected:
  ~ForkParticipant() = default;
};

// `p` takes part in every fork() until remove_fork_participant(p) returns.
void add_fork_participant(ForkParticipant* p);
void remove_fork_participant(ForkParticipant* p);

}  // namespace syncscope::http::internal
