// One command-line parser for every mrelay program: a table of options (long name, optional
// short name, metavar, help with unit and default, kind, handler), sub-commands with their own
// tables, and the --help/--version every program answers the same way.
//
//   mrelay::cli::Parser parser("mrelay-perfstat", "Counts a process's syscalls ...");
//   parser.usage("[OPTIONS] --pid PID");
//   parser.value("--pid", "PID", "process to watch", mrelay::cli::store_uint(options.pid, 1, 4194304));
//   parser.value("--duration", "S", "window", store_double(options.s, 0.001, 1e6)).with_unit("s");
//   const mrelay::cli::Parsed parsed = parser.parse(argc, argv);
//   if (auto code = mrelay::cli::finish(parsed)) { return *code; }  // --help, --version, error
//
// Accepted: "--flag VALUE", "--flag=VALUE", "-s VALUE" (short names), "--" (the rest are
// positional), positional arguments anywhere; -h/--help and -V/--version everywhere. A value
// that starts with "--" must be given as --flag=VALUE: "--flag --other" is a missing value. A value flag given twice keeps the last value;
// a repeated one hands every value to its handler. An unknown flag, a missing value or a
// handler's error exits 2 with "PROGRAM: ... (see PROGRAM --help)"; errors name the flag.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrelay/error.h"

namespace mrelay::cli {

enum class Kind { flag, value, repeated };

/// Stores or checks one value (empty for a flag); `flag` is the long name, for errors.
using Handler = std::function<Result<void>(std::string_view flag, std::string_view value)>;

struct Option {
  std::string name;          // "--rate"
  char short_name = 0;       // 'r' for "-r"; 0 for none
  std::string metavar;       // "PPS"; empty for a flag
  std::string help;          // what it does
  std::string unit;          // "packets/s"; shown as "(unit, default: X)"
  std::string default_text;  // "1000"; empty when there is none to show
  Kind kind = Kind::value;
  Handler handle;

  // For the table entries: parser.value(...).with_unit("packets/s").with_default("1000").
  Option& with_unit(std::string text) {
    unit = std::move(text);
    return *this;
  }
  Option& with_default(std::string text) {
    default_text = std::move(text);
    return *this;
  }
  Option& with_short(char letter) {
    short_name = letter;
    return *this;
  }
};

/// What parse() found. `action` run: the handlers have stored every option.
struct Parsed {
  enum class Action { run, help, version, error };
  Action action = Action::run;
  std::string command;                   // the sub-command chosen, "" for none
  std::vector<std::string> positionals;  // after the sub-command's name
  std::vector<std::string> passed_through;  // unknown flags with an accepted prefix
  std::string output;  // help or version text (stdout), or the error line (stderr)
  Error error;         // for an error: where (the flag) and what
};

/// The parser of one program or sub-command. Options are kept in the order added; that is
/// the order of the help text.
class Parser {
 public:
  Parser(std::string program, std::string description);
  // Sub-commands point at their parent: a parser stays where it was built.
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  /// One usage line: "Usage: PROGRAM " + tail, the next ones "  or:  PROGRAM " + tail. Without
  /// any, "[OPTIONS]" is shown.
  Parser& usage(std::string tail);
  /// Replaces the one-paragraph description given to the constructor.
  Parser& describe(std::string description);
  /// Adds an entry to the table; the reference is for with_unit()/with_default() right away.
  Option& option(Option option);
  /// "--name METAVAR": a value; given twice, the last one counts.
  Option& value(std::string name, std::string metavar, std::string help, Handler handle);
  /// "--name METAVAR", repeatable: every value goes to the handler.
  Option& repeated(std::string name, std::string metavar, std::string help, Handler handle);
  /// A flag without a value, handled by `handle` (called with an empty value).
  Option& flag(std::string name, std::string help, Handler handle);
  /// Options added after this call are listed in their own section "TITLE:" after "Options:"
  /// (mrelay's Rules, Data plane, ...); `note` is printed after them.
  Parser& group(std::string title, std::string note = "");
  /// A flag that sets `target` to true.
  Option& flag(std::string name, std::string help, bool& target);
  /// An extra section after the options ("Examples", "Exit codes"); `body` is printed as is.
  Parser& section(std::string title, std::string body);
  /// An extra section of two-column rows (name, text), laid out like the options.
  Parser& section(std::string title, const std::vector<std::pair<std::string, std::string>>& rows);
  /// Unknown flags starting with `prefix` are collected in Parsed::passed_through (Google
  /// Benchmark's --benchmark_*), listed in the help under `what`.
  Parser& pass_through(std::string prefix, std::string what);
  /// A sub-command with its own table; `arguments` follow its name in its usage line. The
  /// parent's options are accepted after the sub-command too (global options).
  Parser& command(std::string name, std::string arguments, std::string summary);

  /// Parses argv (argv[0] is skipped), calling each option's handler.
  [[nodiscard]] Parsed parse(int argc, const char* const* argv) const;
  /// For checks after parse() (a required flag, flags that exclude each other): prints
  /// "PROGRAM: where: message (see PROGRAM --help)" to stderr and returns 2, the exit code.
  int usage_error(const Error& error) const;
  [[nodiscard]] std::string help_text() const;
  [[nodiscard]] std::string version_text() const;
  /// "PROGRAM: where: message (see PROGRAM --help)\n"
  [[nodiscard]] std::string error_line(const Error& error) const;
  [[nodiscard]] const std::string& program() const { return program_; }
  [[nodiscard]] const std::vector<Option>& options() const { return options_; }

 private:
  struct Command {
    std::string name;
    std::string arguments;
    std::string summary;
    std::unique_ptr<Parser> parser;
  };
  struct Group {
    std::string title;
    std::string note;
  };
  struct Cursor;

  [[nodiscard]] const Option* find(std::string_view name, const Parser* global) const;
  [[nodiscard]] const Command* find_command(std::string_view name) const;
  [[nodiscard]] Result<void> take_option(Cursor& cursor, const Parser* global) const;
  [[nodiscard]] Result<void> take_word(Cursor& cursor) const;
  [[nodiscard]] std::string options_text(const Parser* global) const;
  [[nodiscard]] std::string commands_text() const;

  std::string program_;
  std::string root_program_;  // the program's name for errors and --version
  std::string description_;
  std::vector<std::string> usages_;
  std::vector<Option> options_;
  std::vector<size_t> option_groups_;  // per option: 0 = "Options:", i = groups_[i - 1]
  std::vector<Group> groups_;
  std::vector<std::pair<std::string, std::string>> sections_;
  std::vector<Command> commands_;
  const Parser* parent_ = nullptr;
  std::string pass_prefix_;
  std::string pass_what_;
};

/// Prints Parsed::output where it belongs and returns the exit code (help and version 0, an
/// error 2); nullopt when the program should run.
[[nodiscard]] std::optional<int> finish(const Parsed& parsed);

/// "PROGRAM VERSION": the project's version, one line, for every program.
[[nodiscard]] std::string version_line(std::string_view program);

/// An integer in min..max; the error names `flag` and the range.
[[nodiscard]] Result<uint64_t> parse_uint(std::string_view flag, std::string_view text,
                                          uint64_t min, uint64_t max);
/// A decimal number in min..max; the error names `flag` and the range.
[[nodiscard]] Result<double> parse_double(std::string_view flag, std::string_view text,
                                          double min, double max);

/// Handlers for the common cases.
Handler store_text(std::string& target);
Handler append_text(std::vector<std::string>& target);
Handler store_double(double& target, double min, double max);
template <typename T>
Handler store_uint(T& target, uint64_t min, uint64_t max) {
  return [&target, min, max](std::string_view flag, std::string_view text) -> Result<void> {
    auto value = parse_uint(flag, text, min, max);
    if (!value) {
      return tl::unexpected(value.error());
    }
    target = static_cast<T>(*value);
    return {};
  };
}

/// Stores what `parse(flag, text)` returns (a Result) in `target`, e.g. a
/// std::optional<uint64_t> from a parse_uint with its range, or an address from its parser.
template <typename T, typename Parse>
Handler store_parsed(T& target, Parse parse) {
  return [&target, parse](std::string_view flag, std::string_view text) -> Result<void> {
    auto value = parse(flag, text);
    if (!value) {
      return tl::unexpected(value.error());
    }
    target = *value;
    return {};
  };
}

/// Appends what `parse(flag, text)` returns (a Result) to `target`: a repeated option.
template <typename T, typename Parse>
Handler append_parsed(std::vector<T>& target, Parse parse) {
  return [&target, parse](std::string_view flag, std::string_view text) -> Result<void> {
    auto value = parse(flag, text);
    if (!value) {
      return tl::unexpected(value.error());
    }
    target.push_back(*value);
    return {};
  };
}

}  // namespace mrelay::cli
