using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release -- [--threads T] [BenchmarkDotNet args]</c> runs the BenchmarkDotNet classes;
/// <c>dotnet run -c Release -- ratio --threads T</c> prints and writes the quick ratio table against PyTorch;
/// <c>dotnet run -c Release -- check</c> checks the accuracy of the float fast paths;
/// <c>dotnet run -c Release -- scaling</c> times 1 against 2 threads (<see cref="ScalingMode"/>).
/// <c>mpiexec -n K dotnet CurvNative.Benchmarks.dll mpi</c> times K processes (<see cref="MpiMode"/>, benchmarks/mpi.sh).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "ratio") return RatioMode.Run(args);
        if (args.Length > 0 && args[0] == "check") return AccuracyCheck.Run();
        if (args.Length > 0 && args[0] == "curvature") return CurvatureMode.Run(args);
        if (args.Length > 0 && args[0] == "estimators") return EstimatorsMode.Run(args);
        if (args.Length > 0 && args[0] == "scaling") return ScalingMode.Run(args);
        if (args.Length > 0 && args[0] == "pde") return PdeMode.Run(args);
        if (args.Length > 0 && args[0] == "pinn-step") return PinnStepMode.Run(args);
        if (args.Length > 0 && args[0] == "mpi") return MpiMode.Run(args);
        if (args.Length > 0 && args[0] == "pde-profile") return PdeProfileMode.Run(args);

        var rest = new List<string>(args);
        int? threads = TakeOption(rest, "--threads");
        IConfig config = DefaultConfig.Instance
            .AddColumn(new GflopsColumn(), new SgemmFractionColumn());
        // BenchmarkDotNet runs each benchmark in a child process: pin its threads (when asked) and the GC
        // knob through the job's environment.
        var env = threads is { } t ? ThreadEnv.For(t) : ThreadEnv.Gc;
        config = config.AddJob(Job.Default.WithEnvironmentVariables(
            env.Select(kv => new EnvironmentVariable(kv.Key, kv.Value)).ToArray()).AsDefault());
        // One summary for all selected classes, so the sgemm-fraction column finds Sgemm1024 of the same run.
        if (!rest.Contains("--join")) rest.Add("--join");
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run([.. rest], config);
        return 0;
    }

    /// <summary>Removes "--name value" from args and returns the value as an int.</summary>
    internal static int? TakeOption(List<string> args, string name)
    {
        int i = args.IndexOf(name);
        if (i < 0) return null;
        if (i + 1 >= args.Count || !int.TryParse(args[i + 1], out int v) || v < 1)
            throw new ArgumentException($"{name} needs a positive integer.");
        args.RemoveRange(i, 2);
        return v;
    }
}
