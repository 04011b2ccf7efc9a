#include "core/control_channel.hpp"

#include "core/msgpack_frame.hpp"
#include "core/passed_fds.hpp"

#include <msgpack.hpp>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>

namespace spry::core {

namespace {

struct string_sink {
  std::string* out;
  void write(const char* p, size_t n) { out->append(p, n); }
};

const char* kind_name(control_message::kind k) {
  switch (k) {
    case control_message::kind::ready:
      return "ready";
    case control_message::kind::peers:
      return "peers";
    case control_message::kind::directory:
      return "directory";
    case control_message::kind::stop:
      return "stop";
    case control_message::kind::applied:
      return "applied";
  }
  return "?";
}

} // namespace

std::string encode_control(const control_message& m) {
  std::string body;
  string_sink sink{&body};
  msgpack::packer<string_sink> pk(sink);
  switch (m.type) {
    case control_message::kind::ready:
      pk.pack_array(3);
      pk.pack(std::string(kind_name(m.type)));
      pk.pack(m.endpoint);
      pk.pack(m.address);
      break;
    case control_message::kind::peers:
      pk.pack_array(2);
      pk.pack(std::string(kind_name(m.type)));
      pk.pack(m.peers);
      break;
    case control_message::kind::directory:
      pk.pack_array(3);
      pk.pack(std::string(kind_name(m.type)));
      pk.pack(m.directory);
      pk.pack(m.version);
      break;
    case control_message::kind::applied:
      pk.pack_array(2);
      pk.pack(std::string(kind_name(m.type)));
      pk.pack(m.version);
      break;
    case control_message::kind::stop:
      pk.pack_array(1);
      pk.pack(std::string(kind_name(m.type)));
      break;
  }
  std::string frame(4, '\0');
  const auto n = static_cast<uint32_t>(body.size());
  frame[0] = static_cast<char>(n >> 24);
  frame[1] = static_cast<char>(n >> 16);
  frame[2] = static_cast<char>(n >> 8);
  frame[3] = static_cast<char>(n);
  return frame + body;
}

std::optional<expected<control_message>> control_reader::next() {
  if (buf_.size() < 4)
    return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data());
  const uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  if (n > max_frame)
    return expected<control_message>(make_error("control frame of " + std::to_string(n) +
                                                " bytes is larger than the limit"));
  if (buf_.size() < 4 + size_t{n})
    return std::nullopt;
  const std::string body = buf_.substr(4, n);
  buf_.erase(0, 4 + size_t{n});
  control_message m;
  try {
    auto oh = unpack_frame(body.data(), body.size());
    const auto& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size < 1)
      return expected<control_message>(make_error("control frame is not a message array"));
    const auto* f = o.via.array.ptr;
    const auto kind = f[0].as<std::string>();
    const auto size = o.via.array.size;
    if (kind == "ready" && size == 3) {
      m.type = control_message::kind::ready;
      m.endpoint = f[1].as<endpoint_id>();
      m.address = f[2].as<std::string>();
    } else if (kind == "peers" && size == 2) {
      m.type = control_message::kind::peers;
      m.peers = f[1].as<std::vector<std::pair<endpoint_id, std::string>>>();
    } else if (kind == "directory" && size == 3) {
      m.type = control_message::kind::directory;
      m.directory = f[1].as<std::vector<std::vector<endpoint_id>>>();
      m.version = f[2].as<uint64_t>();
    } else if (kind == "applied" && size == 2) {
      m.type = control_message::kind::applied;
      m.version = f[1].as<uint64_t>();
    } else if (kind == "stop" && size == 1) {
      m.type = control_message::kind::stop;
    } else {
      return expected<control_message>(make_error("unknown control message '" + kind + "' with " +
                                                  std::to_string(size) + " fields"));
    }
  } catch (const std::exception& e) {
    return expected<control_message>(make_error(std::string("malformed control frame: ") + e.what()));
  }
  return expected<control_message>(std::move(m));
}

bool write_control(int fd, const control_message& m, int pass_fd) {
  return write_control_frames(fd, encode_control(m), pass_fd);
}

bool write_control_frames(int fd, std::string_view frame, int pass_fd) {
  size_t off = 0;
  while (off < frame.size()) {
    ssize_t n;
    if (pass_fd >= 0 && off == 0) {
      // The fd rides on the first byte of the frame: the reader collects it with that read.
      iovec iov{const_cast<char*>(frame.data()), frame.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } else {
      n = ::send(fd, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
    }
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 1000) <= 0)
        return false;
      continue;
    }
    return false;
  }
  return true;
}

bool read_control_socket(int fd, control_reader& reader, std::vector<int>& fds) {
  for (;;) {
    char buf[4096];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n == 0)
      return false;
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    for_each_passed_fd(msg, [&](int received) { fds.push_back(received); });
    reader.feed(buf, static_cast<size_t>(n));
  }
}

} // namespace spry::core
