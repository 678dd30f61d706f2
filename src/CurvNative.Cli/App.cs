using System.CommandLine;
using System.CommandLine.Invocation;
using CurvNative.Cli.Commands;
using CurvNative.Interop;

namespace CurvNative.Cli;

/// <summary>
/// The <c>curvnative</c> command line: parses the arguments, runs one command and turns every failure into
/// one line on stderr and an exit code (<see cref="ExitCodes"/>), never a stack trace.
/// </summary>
internal static class App
{
    /// <summary>The program name used in messages.</summary>
    public const string Name = "curvnative";

    /// <summary>Runs the command line with the given output streams and returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        int code;
        try { Processes.Start(); }
        catch (Exception e) when (e is DllNotFoundException or Distributed.MpiException) { return Fail(stderr, ExitCodes.BadInput, e.Message); }
        // Rank 0 alone writes stdout under MPI.
        code = RunCommand(args, Processes.Communicator.IsRoot ? stdout : TextWriter.Null, stderr);
        Processes.Finish(code, stderr);
        return code;
    }

    private static int RunCommand(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var context = new CliContext(stdout, stderr);
        var threads = Processes.ThreadsOption();
        var root = new RootCommand("CurvNative: neural-network curvature as linear operators in .NET. Gradients, curvature products, eigenvalues, traces, diagonals, solves and spectral densities of PyTorch models given as files; PDE operators and PINN training; the kernel backends (devices, bench); and a demo.")
        {
            DemoCommand.Create(context),
            GradCommand.Create(context),
            LossCommand.Create(context),
            MatvecCommand.Create(context),
            AnalysisCommands.Eigs(context),
            AnalysisCommands.Trace(context),
            AnalysisCommands.Diag(context),
            AnalysisCommands.Solve(context),
            AnalysisCommands.Density(context),
            PdeCommand.Create(context),
            PinnCommand.Create(context),
            DevicesCommand.Create(context),
            BenchCommand.Create(context),
        };
        root.Options.Add(threads);

        ParseResult parsed;
        try
        {
            // No response files: an argument starting with '@' is a path, not a file of more arguments.
            parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        }
        catch (Exception e)
        {
            return Fail(stderr, ExitCodes.Usage, e.Message);
        }

        if (parsed.Action is ParseErrorAction)
        {
            var command = parsed.CommandResult.Command;
            string help = command is RootCommand ? $"{Name} --help" : $"{Name} {command.Name} --help";
            var messages = parsed.Errors.Select(e => e.Message.Trim()).Distinct();
            return Fail(stderr, ExitCodes.Usage, $"{string.Join(" ", messages)} (see '{help}')");
        }

        try
        {
            // Only before the command's own action: --help and --version touch no file.
            if (parsed.Action is not null && ReferenceEquals(parsed.Action, parsed.CommandResult.Command.Action)) PathGuard.Check(parsed);
            Processes.ApplyThreads(parsed.GetValue(threads));
            return parsed.Invoke(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (CliException e) { return Fail(stderr, e.ExitCode, e.Message); }
        catch (CurvNativeFormatException e) { return Fail(stderr, ExitCodes.BadInput, e.Message); }
        catch (IOException e) { return Fail(stderr, ExitCodes.BadInput, e.Message); }
        catch (UnauthorizedAccessException e) { return Fail(stderr, ExitCodes.BadInput, e.Message); }
        catch (DllNotFoundException e) { return Fail(stderr, ExitCodes.BadInput, e.Message); }
        catch (CurvNative.Native.LapackException e) { return Fail(stderr, ExitCodes.BadInput, $"numerical failure: {e.Message}"); }
        catch (Distributed.MpiException e) { return Fail(stderr, ExitCodes.BadInput, e.Message); }
        catch (Exception e) { return Fail(stderr, ExitCodes.BadInput, $"internal error ({e.GetType().Name}): {e.Message}"); }
    }

    /// <summary>Writes <c>curvnative: error: message</c> as a single line and returns the exit code. Control characters
    /// that reached the message from input (a layer name with ESC or BEL) are escaped here, whatever produced it.</summary>
    private static int Fail(TextWriter stderr, int exitCode, string message)
    {
        stderr.WriteLine($"{Name}: error: {Text.EscapeControlCharacters(CliText.OneLine(message))}");
        stderr.Flush();
        return exitCode;
    }
}
