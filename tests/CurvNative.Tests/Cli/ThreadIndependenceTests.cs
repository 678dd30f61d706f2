using System.Diagnostics;
using CurvNative.Interop;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary>
/// Same command, any OpenBLAS thread count: the same bits. OpenBLAS reads its thread count once per process, so each
/// count gets its own <c>curvnative</c> process. EKFAC is the sharpest probe: its eigenbases come from xSYEVD, whose
/// threaded build changes eigenvectors in the last bits with the thread count, and near-degenerate eigenvalues of the
/// factors amplify that into the product.
/// </summary>
public class ThreadIndependenceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("curvnative-threads-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("mlp", "ekfac")]
    [InlineData("cnn", "ekfac")]
    [InlineData("cnn", "kfac")]
    [InlineData("mlp", "ggn")]
    public void ProductsDoNotDependOnOpenBlasThreads(string model, string curvature)
    {
        var files = ModelFiles<double>.Load(Model(model, "model.json"), Model(model, "weights.safetensors"), Model(model, "data.safetensors"));
        int p = files.Parameters.Sum(q => q.Length);
        var v = Tensor<double>.Zeros(p, 3);
        var rng = new Random(11);
        for (int i = 0; i < v.Length; i++) v.Span[i] = rng.NextDouble() - 0.5;
        string vector = Path.Combine(_dir, "v.npy");
        Npy.Write(vector, v);

        double[] RunWith(int threads)
        {
            string output = Path.Combine(_dir, $"out{threads}.npy");
            string[] kfac = curvature is "kfac" or "ekfac" ? ["--fisher-type", "mc"] : [];
            string[] args = ["matvec", .. ModelArgs(model), "--curvature", curvature, .. kfac, "--vector", vector, "--out", output];
            var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            start.ArgumentList.Add(typeof(CurvNative.Cli.App).Assembly.Location);
            foreach (var a in args) start.ArgumentList.Add(a);
            start.Environment["OPENBLAS_NUM_THREADS"] = threads.ToString();
            start.Environment["CURVNATIVE_NUM_THREADS"] = threads.ToString();
            using var process = Process.Start(start)!;
            string stderr = process.StandardError.ReadToEnd();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, $"curvnative with {threads} thread(s) exited {process.ExitCode}: {stderr}");
            return Npy.Read<double>(output).ToArray();
        }

        var one = RunWith(1);
        var two = RunWith(2);
        Assert.Equal(one, two);
    }
}
