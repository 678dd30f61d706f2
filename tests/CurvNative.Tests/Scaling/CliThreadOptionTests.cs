using System.CommandLine;
using CurvNative.Cli.Commands;
using CurvNative.Operators.Curvature;
using CurvNative.Threading;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Scaling;

/// <summary><c>--threads</c> on every command and <c>--no-determinism-check</c> on the curvature commands.</summary>
[Collection("ThreadSettings")]
public class CliThreadOptionTests : IDisposable
{
    public void Dispose() => ThreadSettings.Set(ThreadSettings.DefaultCount);

    [Theory]
    [InlineData("demo")]
    [InlineData("grad")]
    [InlineData("loss")]
    [InlineData("matvec")]
    [InlineData("eigs")]
    [InlineData("trace")]
    [InlineData("diag")]
    [InlineData("solve")]
    [InlineData("density")]
    public void EveryCommandHasTheThreadsOption(string command)
    {
        var run = Run(command, "--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--threads", run.Out);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-2")]
    [InlineData("65")]
    [InlineData("two")]
    public void ABadThreadCountIsAUsageError(string threads)
    {
        var run = Run(["loss", .. ModelArgs("mlp"), "--threads", threads]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"--threads must be an integer from 1 to 64, got '{threads}'", run.Error);
    }

    [Fact]
    public void TheThreadsOptionSetsTheThreadCount()
    {
        var run = Run(["loss", .. ModelArgs("mlp"), "--threads", "1"]);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(1, ThreadSettings.Count);
        Assert.Equal(1, CurvNative.Native.NativeThreads.Blas);
        Assert.True(Run(["loss", .. ModelArgs("mlp"), "--threads", "3"]).ExitCode == 0);
        Assert.Equal(3, ThreadSettings.Count);
        Assert.Equal(3, CurvNative.Native.NativeThreads.Kernels);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoDeterminismCheckReachesTheOperator(bool skip)
    {
        var options = new CurvatureCommandOptions();
        var command = new Command("matvec");
        options.AddTo(command);
        string[] flag = skip ? ["--no-determinism-check"] : [];
        var parsed = command.Parse([.. ModelArgs("mlp"), "--curvature", "ggn", .. flag]);
        Assert.Empty(parsed.Errors);
        var (_, op) = options.Build<double>(parsed);
        Assert.Equal(!skip, Assert.IsType<GgnOperator<double>>(op).Options.CheckDeterministic);
    }
}
