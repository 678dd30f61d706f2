using System.CommandLine;
using CurvNative.Distributed;
using CurvNative.Threading;

namespace CurvNative.Cli;

/// <summary>
/// How a command uses the machine and the processes it was started with: <c>--threads T</c> on every command, and,
/// under <c>mpiexec -n K</c>, MPI_COMM_WORLD as the communicator of the data-parallel commands. Each rank computes
/// its shard of the samples; rank 0 alone writes files and stdout, after every rank has finished; a rank that fails
/// prints its error and ends all ranks (MPI_Abort) with its exit code, so none waits for it.
/// </summary>
internal static class Processes
{
    /// <summary>The communicator of this run: MPI_COMM_WORLD under an MPI launcher with K &gt; 1, else one process.</summary>
    public static Communicator Communicator { get; private set; } = Communicator.Single;

    /// <summary><c>--threads T</c>, recursive so that every command has it.</summary>
    public static Option<int?> ThreadsOption() => new("--threads")
    {
        Description = "Threads for OpenBLAS, the native kernels and parallel work together (default: all cores, divided among the MPI ranks on this machine). Results do not depend on it.",
        HelpName = "T",
        Recursive = true,
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0) return null;
            var text = result.Tokens[0].Value;
            if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int t) && t is >= 1 and <= ThreadSettings.MaxCount) return t;
            result.AddError($"--threads must be an integer from 1 to {ThreadSettings.MaxCount}, got '{text}'.");
            return null;
        },
    };

    /// <summary>Joins MPI_COMM_WORLD when started by an MPI launcher with several processes.</summary>
    /// <exception cref="DllNotFoundException">MPI was asked for but is not installed.</exception>
    public static void Start()
    {
        if (MpiCommunicator.LaunchedWithSeveralProcesses) Communicator = MpiCommunicator.World;
    }

    /// <summary>Sets the thread count: the option's value, else the default.</summary>
    public static void ApplyThreads(int? threads) => ThreadSettings.Set(threads ?? ThreadSettings.DefaultCount);

    /// <summary>Runs <paramref name="write"/> on rank 0 once every rank has reached this point; the others skip it.</summary>
    public static void WriteOutputs(Action write)
    {
        if (!Communicator.AllAgree(true)) throw CliException.BadInput("another MPI rank failed; nothing was written.");
        if (Communicator.IsRoot) write();
    }

    /// <summary>How long a failing rank waits between writing its message and MPI_Abort.</summary>
    private static readonly TimeSpan AbortGrace = TimeSpan.FromMilliseconds(500);

    /// <summary>Ends the run: on success MPI_Finalize (all ranks), on failure MPI_Abort, which ends every rank
    /// with <paramref name="exitCode"/>.</summary>
    public static void Finish(int exitCode, TextWriter stderr)
    {
        if (Communicator is not MpiCommunicator mpi) return;
        if (exitCode == ExitCodes.Success) mpi.Shutdown();
        else
        {
            stderr.WriteLine($"{App.Name}: rank {mpi.Rank} of {mpi.Size} failed (exit code {exitCode}); ending all ranks.");
            stderr.Flush();
            // MPI_Abort kills every rank at once, and MPICH's launcher forwards a rank's output asynchronously: it
            // dropped this rank's whole error message in clean-clone runs. Give the forwarding a moment first.
            Thread.Sleep(AbortGrace);
            mpi.Abort(exitCode);
        }
    }
}
