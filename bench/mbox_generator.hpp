// bench/mbox_generator.hpp: a seeded generator of realistic mbox files for the benchmarks.
//
// Mostly 2-10 KiB text messages with full header sets (a Received chain, DKIM, Date,
// Message-ID, MIME headers), one in 30 with a base64 attachment of 100-200 KiB, and
// bodies with blank lines, quoted lines, lines starting with '.' and '>From '. The same
// seed gives the same bytes, and N messages are a prefix of N + k messages.
//
//   pop3::bench::MboxGenerator gen{42};
//   std::string box;
//   for (int i = 0; i < 1000; ++i) gen.append_message(box);   // about 11 MB
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

namespace pop3::bench {

// splitmix64 for seeding, xoshiro256** for the stream: the same numbers on every platform,
// which std:: distributions do not promise.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept {
    for (auto& s : state_) s = splitmix(seed);
  }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }
  // A number in [0, n), n > 0 (multiply-shift; the bias is irrelevant here).
  std::uint32_t below(std::uint32_t n) noexcept {
    return static_cast<std::uint32_t>(((next() >> 32) * n) >> 32);
  }
  std::uint32_t between(std::uint32_t lo, std::uint32_t hi) noexcept { return lo + below(hi - lo + 1); }
  bool chance(std::uint32_t one_in) noexcept { return below(one_in) == 0; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::array<std::uint64_t, 4> state_{};
};

class MboxGenerator {
 public:
  explicit MboxGenerator(std::uint64_t seed) noexcept : rng_(seed) {}

  // Appends one message: its "From " line, headers, blank line, body, and the blank line
  // that separates it from the next message (mbox convention; popa3d drops it again).
  void append_message(std::string& out) {
    const std::size_t begin = out.size();
    ++serial_;
    now_ += rng_.between(20, 900);   // deliveries a few minutes apart
    const auto& sender = pick(people);
    const auto& sender_domain = pick(domains);
    const auto& rcpt = pick(recipients);
    const bool attachment = rng_.chance(30);
    const bool reply = rng_.chance(3);
    const std::string boundary = "=_b" + hex(rng_.next(), 16);
    const std::string msgid = std::to_string(now_) + "." + hex(rng_.next(), 12) + "@" + std::string(sender_domain);

    out += "From ";
    out += sender;
    out += '@';
    out += sender_domain;
    out += ' ';
    append_ctime(out, now_);
    out += '\n';

    out += "Return-Path: <" + std::string(sender) + "@" + std::string(sender_domain) + ">\n";
    out += "X-Original-To: " + std::string(rcpt) + "\n";
    out += "Delivered-To: " + std::string(rcpt) + "\n";
    // Mail submitted locally has no Received chain; then Date and Message-ID feed the UIDL.
    if (!rng_.chance(20)) {
      const std::uint32_t hops = rng_.between(2, 5);
      std::uint64_t t = now_;
      for (std::uint32_t h = 0; h < hops; ++h) {
        out += "Received: from " + host(sender_domain, h + 1) + " (" + host(sender_domain, h + 1) + " [" + ip() + "])\n";
        out += "\tby " + (h == 0 ? std::string("mx.example.net") : host(sender_domain, h)) +
               " (Postfix) with ESMTPS id " + upper_hex(rng_.next(), 10) + "\n";
        out += "\tfor <" + std::string(rcpt) + ">; ";
        append_rfc2822_date(out, t);
        out += '\n';
        t -= rng_.between(1, 30);
      }
    }
    out += "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=" + std::string(sender_domain) +
           ";\n\ts=mail; t=" + std::to_string(now_) + "; bh=";
    append_base64(out, 44);
    out += ";\n\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type;\n\tb=";
    append_base64(out, 64);
    for (int i = 0; i < 4; ++i) {
      out += "\n\t ";
      append_base64(out, 70);
    }
    out += "\nDate: ";
    append_rfc2822_date(out, now_ - rng_.between(2, 60));
    out += "\nFrom: " + display_name(sender) + " <" + std::string(sender) + "@" + std::string(sender_domain) + ">\n";
    out += "To: " + std::string(rcpt) + "\n";
    if (rng_.chance(4)) out += "Cc: " + std::string(pick(people)) + "@" + std::string(pick(domains)) + "\n";
    out += "Subject: ";
    if (reply) out += "Re: ";
    append_words(out, rng_.between(3, 9));
    out += "\nMessage-ID: <" + msgid + ">\n";
    if (reply) {
      const std::string parent = std::to_string(now_ - rng_.between(3600, 86400)) + "." + hex(rng_.next(), 12) + "@" +
                                 std::string(pick(domains));
      out += "In-Reply-To: <" + parent + ">\nReferences: <" + parent + ">\n";
    }
    if (rng_.chance(5)) out += "List-Id: <" + std::string(pick(words)) + ".lists." + std::string(sender_domain) + ">\n";
    out += "X-Mailer: " + std::string(pick(mailers)) + "\n";
    out += "MIME-Version: 1.0\n";
    if (attachment) {
      out += "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\n\n";
      out += "This is a multi-part message in MIME format.\n\n--" + boundary + "\n";
      out += "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n";
      append_body(out, rng_.between(400, 2000), reply);
      out += "\n--" + boundary + "\n";
      const std::string name = std::string(pick(words)) + "-" + std::to_string(serial_) + "." + std::string(pick(extensions));
      out += "Content-Type: application/octet-stream; name=\"" + name + "\"\n";
      out += "Content-Disposition: attachment; filename=\"" + name + "\"\n";
      out += "Content-Transfer-Encoding: base64\n\n";
      // 75-150 KiB of binary data: 100-200 KiB of base64 text in 76-column lines.
      const std::uint32_t raw = rng_.between(75 * 1024, 150 * 1024);
      for (std::uint32_t left = (raw + 2) / 3 * 4; left > 0;) {
        const std::uint32_t n = left < 76 ? left : 76;
        append_base64(out, n);
        out += '\n';
        left -= n;
      }
      out += "--" + boundary + "--\n";
    } else {
      out += "Content-Type: text/plain; charset=utf-8; format=flowed\n";
      out += "Content-Transfer-Encoding: 8bit\n\n";
      // The whole message ends up 2-10 KiB.
      const std::uint32_t target = rng_.between(2 * 1024, 10 * 1024);
      const std::size_t headers = out.size() - begin;
      append_body(out, target > headers + 200 ? target - headers : 200, reply);
    }
    out += '\n';   // the separator line before the next "From "
  }

  // Messages appended so far.
  [[nodiscard]] std::uint64_t messages() const noexcept { return serial_; }

 private:
  static constexpr std::array<std::string_view, 24> people{
      "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
      "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "xavier", "yolanda", "zoe", "noreply", "billing"};
  static constexpr std::array<std::string_view, 8> domains{
      "example.org", "example.com", "mail.example.edu", "lists.example.net", "corp.example", "shop.example",
      "news.example.com", "dev.example.org"};
  static constexpr std::array<std::string_view, 3> recipients{"user@example.net", "user+lists@example.net",
                                                              "postmaster@example.net"};
  static constexpr std::array<std::string_view, 5> mailers{
      "Mutt/2.2.9 (2022-11-12)", "Thunderbird 115.6.0", "Postfix-Notifier 1.2", "Roundcube Webmail/1.6.5",
      "Microsoft Outlook 16.0"};
  static constexpr std::array<std::string_view, 6> extensions{"pdf", "png", "zip", "docx", "jpg", "xlsx"};
  static constexpr std::array<std::string_view, 64> words{
      "the", "report", "meeting", "schedule", "server", "budget", "quarter", "draft", "please", "review",
      "attached", "version", "update", "release", "notes", "question", "about", "tomorrow", "office", "team",
      "project", "deadline", "thanks", "regards", "figures", "mailbox", "delivery", "backup", "network", "invoice",
      "order", "shipping", "account", "password", "change", "policy", "weekly", "summary", "minutes", "agenda",
      "kernel", "patch", "build", "failed", "passed", "tests", "review", "merge", "branch", "commit", "issue",
      "ticket", "customer", "support", "holiday", "travel", "hotel", "flight", "lunch", "coffee", "and", "of",
      "to", "with"};

  template <class Array>
  const typename Array::value_type& pick(const Array& a) noexcept {
    return a[rng_.below(static_cast<std::uint32_t>(a.size()))];
  }

  static std::string hex(std::uint64_t v, int digits) {
    static constexpr char digit[] = "0123456789abcdef";
    std::string s(static_cast<std::size_t>(digits), '0');
    for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = digit[v & 15];
    return s;
  }
  static std::string upper_hex(std::uint64_t v, int digits) {
    std::string s = hex(v, digits);
    for (char& c : s)
      if (c >= 'a') c = static_cast<char>(c - 'a' + 'A');
    return s;
  }
  std::string host(std::string_view domain, std::uint32_t n) {
    return "mx" + std::to_string(n) + "." + std::string(domain);
  }
  std::string ip() {
    return "192.0.2." + std::to_string(rng_.between(1, 254));
  }
  static std::string display_name(std::string_view user) {
    std::string s(user);
    s[0] = static_cast<char>(s[0] - 'a' + 'A');
    return s + " Example";
  }

  // "Tue Mar  5 14:22:01 2024", as in the "From " line (asctime format without the LF).
  static void append_ctime(std::string& out, std::uint64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "%s %s %2d %02d:%02d:%02d %d", weekday(tm), month(tm), tm.tm_mday,
                                tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
    out.append(buf, static_cast<std::size_t>(n));
  }
  // "Tue, 5 Mar 2024 14:22:01 +0000" (RFC 5322 date-time).
  static void append_rfc2822_date(std::string& out, std::uint64_t t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "%s, %d %s %d %02d:%02d:%02d +0000", weekday(tm), tm.tm_mday,
                                month(tm), tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    out.append(buf, static_cast<std::size_t>(n));
  }
  static const char* weekday(const std::tm& tm) {
    static constexpr const char* names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    return names[tm.tm_wday];
  }
  static const char* month(const std::tm& tm) {
    static constexpr const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    return names[tm.tm_mon];
  }

  // n characters of the base64 alphabet, ten from each random number.
  void append_base64(std::string& out, std::uint32_t n) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::size_t at = out.size();
    out.resize(at + n);
    char* p = out.data() + at;
    while (n > 0) {
      std::uint64_t r = rng_.next();
      for (int k = 0; k < 10 && n > 0; ++k, --n, r >>= 6) *p++ = alphabet[r & 63];
    }
  }

  void append_words(std::string& out, std::uint32_t n) {
    for (std::uint32_t i = 0; i < n; ++i) {
      if (i != 0) out += ' ';
      out += pick(words);
    }
  }

  // A text line of about 30-76 columns.
  void append_text_line(std::string& out) {
    const std::size_t start = out.size();
    const std::size_t width = rng_.between(30, 76);
    while (out.size() - start < width) {
      if (out.size() != start) out += ' ';
      out += pick(words);
    }
    if (rng_.chance(4)) out += '.';
    out += '\n';
  }

  // Paragraphs of text until about `bytes`, with what mbox and POP3 must cope with: blank
  // lines, lines starting with '.' (dot-stuffed on RETR), a lone ".", "..", '>From '
  // (escaped by the MDA), quoted blocks and a signature.
  void append_body(std::string& out, std::size_t bytes, bool reply) {
    const std::size_t start = out.size();
    out += "Hello " + std::string(pick(people)) + ",\n\n";
    if (reply) {
      out += "On ";
      append_rfc2822_date(out, now_ - rng_.between(3600, 86400));
      out += ", " + std::string(pick(people)) + " wrote:\n";
      for (std::uint32_t i = rng_.between(2, 8); i > 0; --i) {
        out += "> ";
        append_text_line(out);
      }
      out += ">\n> \n\n";
    }
    while (out.size() - start < bytes) {
      const std::uint32_t lines = rng_.between(1, 7);
      for (std::uint32_t i = 0; i < lines; ++i) {
        // "From " right after a blank line would start a new message; an MDA escapes it.
        const std::uint32_t kind = rng_.below(40);
        switch (kind == 4 && i == 0 ? 3 : kind) {
          case 0: out += ".\n"; break;                       // a lone dot: must be sent as ".."
          case 1: out += ".."; append_text_line(out); break;
          case 2: out += ".profile "; append_text_line(out); break;
          case 3: out += ">From "; append_text_line(out); break;
          case 4: out += "From "; append_text_line(out); break;   // not after a blank line: plain text
          case 5: out += "\t"; append_text_line(out); break;
          default: append_text_line(out); break;
        }
      }
      out += '\n';
      if (rng_.chance(8)) out += "\n";   // two blank lines now and then
    }
    out += "-- \n" + display_name(pick(people)) + "\n";
  }

  Rng rng_;
  std::uint64_t serial_ = 0;
  std::uint64_t now_ = 1672531200;   // 2023-01-01 00:00:00 UTC
};

// A whole mailbox of `messages` messages in memory.
inline std::string generate_mbox(std::uint64_t messages, std::uint64_t seed) {
  MboxGenerator gen{seed};
  std::string out;
  out.reserve(messages * 11 * 1024);
  for (std::uint64_t i = 0; i < messages; ++i) gen.append_message(out);
  return out;
}

}  // namespace pop3::bench
