using System.Text.Json;
using CurvNative.Interop;
using CurvNative.NN.Modules;
using CurvNative.Tests.Interop;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary><c>curvnative pinn</c>: the files it writes, resuming, and bad input.</summary>
public class PinnCommandTests
{
    private static string[] Small(string dir, params string[] extra) => Seeded(dir, "1", extra);

    private static string[] Seeded(string dir, string seed, params string[] extra) =>
        ["pinn", "--problem", "poisson2d", "--hidden", "8", "--interior", "30", "--boundary", "10",
         "--eval-points", "200", "--eval-every", "2", "--seed", seed, "--out", dir, "--quiet",
         .. (extra.Contains("--optimizer") ? extra : ["--optimizer", "engd-woodbury", .. extra])];

    [Fact]
    public void WritesTheModelHistoryPlotAndCheckpoint()
    {
        using var tmp = new TempDir();
        var dir = tmp.File("run");
        var run = Run(Small(dir, "--steps", "4"));
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("", run.Out);

        // The trained network in the model-file contract: the spec builds it and the weights load into it.
        var spec = ModelSpec.Load(Path.Combine(dir, "model.json"));
        Assert.Equal([2], spec.InputShape);
        var model = spec.BuildModel<double>();
        ModelFiles<double>.LoadWeights(model, Path.Combine(dir, "weights.safetensors"));
        Assert.Equal(2 * 8 + 8 + 8 + 1, model.Parameters().Sum(p => p.Length));

        using var history = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "history.json")));
        var root = history.RootElement;
        Assert.Equal("poisson2d", root.GetProperty("problem").GetString());
        Assert.Equal("engd-woodbury", root.GetProperty("optimizer").GetString());
        Assert.Equal(1, root.GetProperty("seed").GetInt32());
        Assert.Equal(33, root.GetProperty("parameters").GetInt32());
        Assert.Equal([0L, 2, 4], root.GetProperty("step").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(3, root.GetProperty("l2_rel").GetArrayLength());
        Assert.Equal(3, root.GetProperty("time_s").GetArrayLength());
        Assert.Equal(4, root.GetProperty("final").GetProperty("step").GetInt64());
        var loss = root.GetProperty("loss").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.All(loss, v => Assert.True(double.IsFinite(v) && v > 0));
        var svg = File.ReadAllText(Path.Combine(dir, "l2.svg"));
        Assert.StartsWith("<svg", svg.TrimStart().StartsWith("<?xml", StringComparison.Ordinal) ? svg[(svg.IndexOf("?>", StringComparison.Ordinal) + 2)..].TrimStart() : svg.TrimStart());
        Assert.Contains("relative L2 error", svg);
        var png = File.ReadAllBytes(Path.Combine(dir, "l2.png"));
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        Assert.True(File.Exists(Path.Combine(dir, "checkpoint.safetensors")));
        Assert.DoesNotContain(Directory.GetFiles(dir), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void ResumeContinuesTheRunItInterrupted()
    {
        using var tmp = new TempDir();
        string whole = tmp.File("whole"), part = tmp.File("part");
        string[] spring = ["--optimizer", "spring", "--momentum", "0.5"];
        Assert.Equal(0, Run(Small(whole, ["--steps", "6", .. spring])).ExitCode);
        Assert.Equal(0, Run(Small(part, ["--steps", "2", .. spring])).ExitCode);
        var resumed = Run(Small(part, ["--steps", "6", "--resume", part, .. spring]));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        var a = SafetensorsFile.Read(Path.Combine(whole, "weights.safetensors"));
        var b = SafetensorsFile.Read(Path.Combine(part, "weights.safetensors"));
        foreach (var name in a.Names) Assert.Equal(a.GetTensor<double>(name).ToArray(), b.GetTensor<double>(name).ToArray());
        using var h = JsonDocument.Parse(File.ReadAllText(Path.Combine(part, "history.json")));
        Assert.Equal([0L, 2, 4, 6], h.RootElement.GetProperty("step").EnumerateArray().Select(e => e.GetInt64()));
    }

    [Theory]
    [InlineData(2, "unknown problem 'poisson3d'", "--problem", "poisson3d")]
    [InlineData(2, "unknown optimizer 'sgd'", "--optimizer", "sgd")]
    [InlineData(2, "--time-budget must be a positive number", "--time-budget", "0")]
    [InlineData(2, "--time-budget must be a positive number", "--time-budget", "-3")]
    [InlineData(2, "--hidden must be positive integers", "--hidden", "64,x")]
    [InlineData(2, "--hidden must be positive integers", "--hidden", "64,,8")]
    [InlineData(2, "--steps must be a positive integer", "--steps", "0")]
    [InlineData(2, "momentum must be in [0, 1)", "--momentum", "1.5")]
    [InlineData(2, "--lr and --line-search exclude each other", "--lr", "0.1", "--line-search")]
    public void BadInputIsOneLineAndANonZeroExit(int code, string mention, params string[] change)
    {
        using var tmp = new TempDir();
        var dir = tmp.File("run");
        var args = new List<string> { "pinn", "--problem", "poisson2d", "--optimizer", "engd-woodbury", "--steps", "2", "--out", dir, "--quiet" };
        for (int i = 0; i < change.Length; i++)
        {
            int at = args.IndexOf(change[i]);
            if (at >= 0 && i + 1 < change.Length && !change[i + 1].StartsWith("--", StringComparison.Ordinal)) { args[at + 1] = change[++i]; continue; }
            args.Add(change[i]);
            if (i + 1 < change.Length && !change[i + 1].StartsWith("--", StringComparison.Ordinal)) args.Add(change[++i]);
        }
        var run = Run([.. args]);
        Assert.Equal(code, run.ExitCode);
        Assert.Single(run.ErrorLines);
        Assert.Contains(mention, run.Error);
        Assert.False(File.Exists(Path.Combine(dir, "model.json")));
    }

    [Fact]
    public void NeitherStepsNorBudgetIsAnError()
    {
        using var tmp = new TempDir();
        var run = Run("pinn", "--problem", "poisson2d", "--optimizer", "adam", "--out", tmp.File("run"));
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.ErrorLines);
        Assert.Contains("--time-budget", run.Error);
    }

    [Fact]
    public void ResumeRefusesAnotherRunsCheckpoint()
    {
        using var tmp = new TempDir();
        var dir = tmp.File("run");
        Assert.Equal(0, Run(Small(dir, "--steps", "2")).ExitCode);
        var run = Run(Seeded(dir, "2", "--steps", "4", "--resume", dir));
        Assert.Equal(1, run.ExitCode);
        Assert.Single(run.ErrorLines);
        Assert.Contains("seed", run.Error);
    }
}
