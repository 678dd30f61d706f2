using System.Numerics;
using System.Text.Json;
using CurvNative.Cli;
using CurvNative.Cli.Commands;
using CurvNative.Kernels;
using CurvNative.Kernels.Gpu;
using Xunit;

namespace CurvNative.Tests.Cli;

/// <summary><c>curvnative devices</c>, <c>curvnative bench</c> and the <c>--backend</c>/<c>--device</c> factory.</summary>
public sealed class KernelCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("curvnative-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertOneLineError(CliRun r, int code, params string[] mentions)
    {
        Assert.True(r.ExitCode == code, r.ToString());
        Assert.True(r.ErrorLines.Length == 1, $"expected one line on stderr, got: {r.Error}");
        Assert.StartsWith("curvnative: error: ", r.ErrorLines[0]);
        foreach (var m in mentions) Assert.Contains(m, r.ErrorLines[0]);
    }

    /// <summary>The table rows (lines between the box's vertical bars) whose first cell is <paramref name="backend"/>.</summary>
    private static string[][] Rows(string output, string backend) => output.Split('\n')
        .Where(l => l.StartsWith('│'))
        .Select(l => l.Split('│', StringSplitOptions.RemoveEmptyEntries).Select(c => c.Trim()).ToArray())
        .Where(c => c.Length > 0 && c[0] == backend).ToArray();

    [Fact]
    public void Devices_lists_the_CPU_accelerator_with_verified_fp64_and_says_when_there_is_no_GPU()
    {
        var r = CliRunner.Run("devices");
        Assert.True(r.ExitCode == 0, r.ToString());
        var devices = IlgpuKernelBackend.ListDevices();
        var cpu = devices.Single(d => !d.IsGpu);
        var row = Rows(r.Out, cpu.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)).Single();
        Assert.Equal("CPU", row[1]);
        Assert.Equal("CPUAccelerator", row[2]);
        Assert.Equal("yes", row[7]); // fp64, from a double GEMM run on the device against the oracle
        Assert.Equal("4x4, 4x4 per thread", row[8]);
        if (devices.Any(d => d.IsGpu)) Assert.Contains("GPU", r.Out);
        else Assert.Contains("No GPU found", r.Out);
    }

    [Fact]
    public void Bench_on_managed_and_native_passes_the_oracle_check_and_writes_json()
    {
        string json = Path.Combine(_dir, "bench.json");
        var r = CliRunner.Run("bench", "--backend", "managed,native", "--size", "16", "--repeat", "1", "--json", json);
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (var backend in new[] { "managed", "native" })
        {
            var rows = Rows(r.Out, backend);
            Assert.Equal(["gemm", "kron", "accumulate", "woodbury", "taylor"], rows.Select(c => c[2]));
            Assert.All(rows, c => Assert.Equal("ok", c[^1]));
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var jrows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(10, jrows.Count);
        Assert.All(jrows, j => Assert.Equal("ok", j.GetProperty("status").GetString()));
        Assert.All(jrows, j => Assert.True(j.GetProperty("max_relative_error").GetDouble() <= 1e-10));
        Assert.All(jrows, j => Assert.True(j.GetProperty("gflops").GetDouble() > 0));
    }

    [Fact]
    public void Bench_on_ilgpu_runs_on_the_CPU_accelerator_in_float32()
    {
        int cpu = IlgpuKernelBackend.ListDevices().Single(d => !d.IsGpu).Index;
        var r = CliRunner.Run("bench", "--backend", "ilgpu", "--device", cpu.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--size", "8", "--repeat", "1", "--dtype", "float32");
        Assert.True(r.ExitCode == 0, r.ToString());
        var rows = Rows(r.Out, "ilgpu");
        Assert.Equal(5, rows.Length);
        Assert.All(rows, c => Assert.Equal("ok", c[^1]));
        Assert.All(rows, c => Assert.StartsWith("CPU", c[1]));
    }

    /// <summary>The managed backend with one GEMM result perturbed by 1e-6 relative: what a broken device does.</summary>
    private sealed class PerturbedBackend : IKernelBackend
    {
        private readonly ManagedKernelBackend _inner = new();
        public string Name => "perturbed";
        public string DeviceName => "test";
        public TransferCounter Transfers => _inner.Transfers;
        public KernelBuffer<T> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged, IFloatingPointIeee754<T> => _inner.Upload(data);
        public void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c) where T : unmanaged, IFloatingPointIeee754<T>
        {
            _inner.Gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
            if (c.Length > 0) c[0] *= T.CreateChecked(1 + 1e-6);
        }
        public void KroneckerMatmat<T>(int gDim, int aDim, int k, KernelBuffer<T> g, bool transG, KernelBuffer<T> a, bool transA, ReadOnlySpan<T> v, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>
            => _inner.KroneckerMatmat(gDim, aDim, k, g, transG, a, transA, v, y);
        public void AccumulateFactor<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
            => _inner.AccumulateFactor(n, d, scale, rows, beta, factor);
        public int WoodburySolve<T>(int n, int p, KernelBuffer<T> jacobian, T lambda, ReadOnlySpan<T> g, Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
            => _inner.WoodburySolve(n, p, jacobian, lambda, g, x);
        public void ForwardLaplacian<T>(TaylorNetwork<T> network, int batch, ReadOnlySpan<T> x, Span<T> values, Span<T> laplacians) where T : unmanaged, IFloatingPointIeee754<T>
            => throw new NotSupportedException("not used by this test");
        public void Dispose() { }
    }

    [Fact]
    public void Bench_reports_a_result_that_disagrees_with_the_oracle_and_fails()
    {
        var stdout = new StringWriter();
        var settings = new BenchCommand.Settings(["perturbed"], ["gemm", "kron"], 9, 1, null, false);
        var e = Assert.Throws<CliException>(() => BenchCommand.Run<double>(new CliContext(stdout, TextWriter.Null), settings, _ => new PerturbedBackend()));
        Assert.Equal(ExitCodes.BadInput, e.ExitCode);
        Assert.Contains("1 result disagree", e.Message);
        Assert.Contains("perturbed gemm", e.Message);
        var rows = Rows(stdout.ToString(), "perturbed");
        Assert.Equal("MISMATCH", rows.Single(c => c[2] == "gemm")[^1]);
        Assert.Equal("ok", rows.Single(c => c[2] == "kron")[^1]);
    }

    [Fact]
    public void Bad_backend_and_device_are_clear_usage_errors()
    {
        AssertOneLineError(CliRunner.Run("bench", "--backend", "cuda"), ExitCodes.Usage, "--backend must be all or a comma-separated list of managed, native, ilgpu", "'cuda'");
        AssertOneLineError(CliRunner.Run("bench", "--backend", "native,opencl"), ExitCodes.Usage, "--backend", "'native,opencl'");
        AssertOneLineError(CliRunner.Run("bench", "--family", "svd"), ExitCodes.Usage, "--family must be", "'svd'");
        AssertOneLineError(CliRunner.Run("bench", "--backend", "native", "--device", "0"), ExitCodes.Usage, "--device applies to --backend ilgpu only");
        AssertOneLineError(CliRunner.Run("bench", "--backend", "ilgpu", "--device", "x"), ExitCodes.Usage, "--device must be a device index", "'x'");
        int count = IlgpuKernelBackend.ListDevices().Count;
        AssertOneLineError(CliRunner.Run("bench", "--backend", "ilgpu", "--device", "7"), ExitCodes.Usage,
            "--device 7 does not exist", $"ILGPU finds {count} device", "CPUAccelerator", "curvnative devices");
    }

    [Fact]
    public void The_factory_creates_each_backend_and_names_what_exists()
    {
        using (var m = KernelBackendFactory.Create("managed")) Assert.IsType<ManagedKernelBackend>(m);
        if (NativeKernelBackend.IsAvailable(out _)) using (var n = KernelBackendFactory.Create("native")) Assert.IsType<NativeKernelBackend>(n);
        int cpu = IlgpuKernelBackend.ListDevices().Single(d => !d.IsGpu).Index;
        using (var g = KernelBackendFactory.Create("ilgpu", cpu)) Assert.Equal("ilgpu", g.Name);
        var unknown = Assert.Throws<CliException>(() => KernelBackendFactory.Create("tpu"));
        Assert.Equal(ExitCodes.Usage, unknown.ExitCode);
        Assert.Contains("one of managed, native, ilgpu, got 'tpu'", unknown.Message);
        var range = Assert.Throws<CliException>(() => KernelBackendFactory.Create("ilgpu", -1));
        Assert.Contains("--device -1 does not exist", range.Message);
        var device = Assert.Throws<CliException>(() => KernelBackendFactory.Create("managed", 0));
        Assert.Contains("--device applies to --backend ilgpu only", device.Message);
    }
}
