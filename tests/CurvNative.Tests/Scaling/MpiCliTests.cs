using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using CurvNative.Interop;
using CurvNative.Tests.Cli;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Scaling;

/// <summary>A test that needs <c>mpiexec</c> (Debian's mpich, which scripts/install-deps.sh installs): skipped,
/// with the reason shown, only where it is absent.</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute() { if (Mpi.Launcher is null) Skip = Mpi.Missing; }
}

/// <inheritdoc cref="MpiFactAttribute"/>
public sealed class MpiTheoryAttribute : TheoryAttribute
{
    public MpiTheoryAttribute() { if (Mpi.Launcher is null) Skip = Mpi.Missing; }
}

/// <summary>Runs <c>curvnative</c> under <c>mpiexec</c>.</summary>
internal static class Mpi
{
    public const string Missing = "mpiexec not found: install MPICH (apt-get install mpich libmpich-dev, or scripts/install-deps.sh)";

    /// <summary>The path of mpiexec on PATH, or null.</summary>
    public static string? Launcher { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(d => Path.Combine(d, "mpiexec"))
        .FirstOrDefault(File.Exists);

    private static string Cli => typeof(CurvNative.Cli.App).Assembly.Location;

    /// <summary>mpiexec with the given launcher arguments (e.g. "-n", "2", then the program); ends the job and
    /// fails the test if it has not finished within two minutes (a hang).</summary>
    public static CliRun Run(IEnumerable<string> launcherArgs)
    {
        var start = new ProcessStartInfo(Launcher!) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in launcherArgs) start.ArgumentList.Add(a);
        // One thread per rank: the ranks share this machine's cores.
        start.Environment["CURVNATIVE_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"mpiexec {string.Join(' ', launcherArgs)} did not finish within two minutes (hang)");
        }
        process.WaitForExit();
        return new CliRun(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>K ranks of <c>curvnative args</c>.</summary>
    public static CliRun Curvnative(int ranks, params string[] args) => Run(["-n", ranks.ToString(CultureInfo.InvariantCulture), "dotnet", Cli, .. args]);

    /// <summary>The program part of an MPMD launch: <c>-n 1 dotnet curvnative.dll args</c>.</summary>
    public static string[] Rank(params string[] args) => ["-n", "1", "dotnet", Cli, .. args];
}

/// <summary>
/// <c>mpiexec -n K curvnative ...</c>: each rank takes a contiguous shard of the samples, the sums are reduced
/// across ranks, and rank 0 alone writes. The results equal the one-process run to 1e-10 relative for K = 1, 2 and
/// 3 (13 samples: 3 does not divide them); a failing or killed rank ends every rank with a non-zero exit, a message,
/// and no output file.
/// </summary>
public class MpiCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("curvnative-mpi-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Vector(string model, int columns)
    {
        var files = ModelFiles<double>.Load(Model(model, "model.json"), Model(model, "weights.safetensors"), Model(model, "data.safetensors"));
        var v = Tensor<double>.Zeros(files.Parameters.Sum(q => q.Length), columns);
        var rng = new Random(17);
        for (int i = 0; i < v.Length; i++) v.Span[i] = rng.NextDouble() - 0.5;
        string path = Path.Combine(_dir, "v.npy");
        Npy.Write(path, v);
        return path;
    }

    private static void AssertClose(double[] expected, double[] actual, string what)
    {
        double error = RelativeError(actual, expected);
        Assert.True(error <= 1e-10, $"{what}: relative difference {error:E2} from the one-process run");
    }

    [MpiTheory]
    [InlineData("ggn", 1, null)]
    [InlineData("ggn", 2, null)]
    [InlineData("ggn", 3, "4")]
    [InlineData("hessian", 3, null)]
    [InlineData("fisher-mc", 2, "5")]
    [InlineData("kfac", 3, null)]
    [InlineData("ekfac", 2, "3")]
    public void MatvecAcrossRanksEqualsOneProcess(string curvature, int ranks, string? batchSize)
    {
        string vector = Vector("mlp", 2), one = Path.Combine(_dir, "one.npy"), many = Path.Combine(_dir, "many.npy");
        string[] batch = batchSize is null ? [] : ["--batch-size", batchSize];
        string[] args = ["matvec", .. ModelArgs("mlp"), "--curvature", curvature, "--mc-samples", "2", "--seed", "3", .. batch, "--vector", vector];
        var single = Run([.. args, "--out", one]);
        Assert.True(single.ExitCode == 0, single.ToString());
        var run = Mpi.Curvnative(ranks, [.. args, "--out", many]);
        Assert.True(run.ExitCode == 0, run.ToString());
        AssertClose(Npy.Read<double>(one).ToArray(), Npy.Read<double>(many).ToArray(), $"{curvature} with {ranks} ranks");
    }

    [MpiTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void GradientAndLossAcrossRanksEqualOneProcess(int ranks)
    {
        string one = Path.Combine(_dir, "one.npy"), many = Path.Combine(_dir, "many.npy");
        Assert.Equal(0, Run(["grad", .. ModelArgs("cnn"), "--out", one]).ExitCode);
        var run = Mpi.Curvnative(ranks, ["grad", .. ModelArgs("cnn"), "--batch-size", "2", "--out", many]);
        Assert.True(run.ExitCode == 0, run.ToString());
        AssertClose(Npy.Read<double>(one).ToArray(), Npy.Read<double>(many).ToArray(), $"gradient with {ranks} ranks");

        var loss = Mpi.Curvnative(ranks, ["loss", .. ModelArgs("cnn")]);
        Assert.True(loss.ExitCode == 0, loss.ToString());
        // Rank 0 alone prints.
        var lines = loss.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        double expected = double.Parse(Run(["loss", .. ModelArgs("cnn")]).Out.Trim(), CultureInfo.InvariantCulture);
        Assert.Equal(expected, double.Parse(lines[0], CultureInfo.InvariantCulture), expected * 1e-10);
    }

    [MpiFact]
    public void TraceAcrossThreeRanksEqualsOneProcess()
    {
        string one = Path.Combine(_dir, "one.json"), many = Path.Combine(_dir, "many.json");
        string[] args = ["trace", .. ModelArgs("mlp"), "--curvature", "ggn", "--method", "hutchinson", "--samples", "6", "--seed", "2", "--quiet"];
        Assert.Equal(0, Run([.. args, "--out", one]).ExitCode);
        var run = Mpi.Curvnative(3, [.. args, "--out", many]);
        Assert.True(run.ExitCode == 0, run.ToString());
        double Trace(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("trace").GetDouble();
        AssertClose([Trace(one)], [Trace(many)], "Hutchinson trace with 3 ranks");
    }

    [MpiFact]
    public void EigenvaluesAcrossTwoRanksEqualOneProcess()
    {
        string one = Path.Combine(_dir, "one.json"), many = Path.Combine(_dir, "many.json");
        string[] args = ["eigs", .. ModelArgs("mlp"), "--curvature", "ggn", "--k", "3", "--quiet"];
        Assert.Equal(0, Run([.. args, "--out", one]).ExitCode);
        var run = Mpi.Curvnative(2, [.. args, "--batch-size", "5", "--out", many]);
        Assert.True(run.ExitCode == 0, run.ToString());
        double[] Values(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("eigenvalues").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        AssertClose(Values(one), Values(many), "top-3 GGN eigenvalues with 2 ranks");
    }

    [MpiFact]
    public void ARankWithABadFileEndsEveryRankAndNothingIsWritten()
    {
        string output = Path.Combine(_dir, "g.npy"), missing = Path.Combine(_dir, "missing.safetensors");
        string[] good = ["grad", .. ModelArgs("mlp"), "--out", output];
        string[] bad = ["grad", "--model", Model("mlp", "model.json"), "--weights", Model("mlp", "weights.safetensors"), "--data", missing, "--out", output];
        var run = Mpi.Run([.. Mpi.Rank(good), ":", .. Mpi.Rank(bad)]);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains($"{missing}: file not found (--data)", run.Error);
        // The failing rank's closing line ("rank 1 of 2 failed ...") is flushed right before MPI_Abort, but MPICH's
        // launcher may stop forwarding output as the abort arrives (lost in one of five clean-clone runs): not asserted.
        Assert.False(File.Exists(output), "rank 0 wrote its output although rank 1 failed");
    }

    [MpiFact]
    public void AKilledRankEndsEveryRankAndNothingIsWritten()
    {
        string output = Path.Combine(_dir, "g.npy");
        var run = Mpi.Run([.. Mpi.Rank(["grad", .. ModelArgs("mlp"), "--out", output]), ":", "-n", "1", "sh", "-c", "kill -9 $$"]);
        Assert.NotEqual(0, run.ExitCode);
        Assert.False(File.Exists(output), "rank 0 wrote its output although rank 1 was killed");
    }
}
