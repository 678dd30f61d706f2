using System.Numerics;
using CurvNative.Kernels;
using CurvNative.Kernels.Gpu;
using Xunit;

namespace CurvNative.Kernels.Tests;

/// <summary>Creates the backends under test once per process; a backend that cannot start carries its reason.</summary>
public static class Backends
{
    private static readonly Lazy<(IKernelBackend? Backend, string Reason)> Native = new(() =>
        NativeKernelBackend.IsAvailable(out var why) ? (new NativeKernelBackend(), "") : (null, why));

    private static readonly Lazy<(IKernelBackend? Backend, string Reason)> Ilgpu = new(() =>
    {
        try
        {
            // The CPU accelerator is the last device; tests use it even on machines with a GPU so CI is reproducible.
            int cpu = IlgpuKernelBackend.ListDevices().Count - 1;
            return (new IlgpuKernelBackend(cpu), "");
        }
        catch (Exception e) { return (null, $"ILGPU could not start: {e.GetType().Name}: {e.Message}"); }
    });

    private static readonly Dictionary<string, Lazy<(IKernelBackend? Backend, string Reason)>> Configured = new()
    {
        // The GPUs' launch configurations (16 x 16 groups, both GEMM kernels) and 8 x 8 groups, on the CPU accelerator.
        ["ilgpu-16-blocked"] = OnCpu(new IlgpuKernelOptions(IlgpuTile.Edge16, IlgpuGemmKernel.RegisterBlocked)),
        ["ilgpu-16-simple"] = OnCpu(new IlgpuKernelOptions(IlgpuTile.Edge16, IlgpuGemmKernel.Simple)),
        ["ilgpu-16-auto"] = OnCpu(new IlgpuKernelOptions(IlgpuTile.Edge16, IlgpuGemmKernel.Auto)),
        ["ilgpu-8-blocked"] = OnCpu(new IlgpuKernelOptions(IlgpuTile.Edge8, IlgpuGemmKernel.RegisterBlocked)),
        ["ilgpu-4-simple"] = OnCpu(new IlgpuKernelOptions(IlgpuTile.Edge4, IlgpuGemmKernel.Simple)),
        ["ilgpu-split"] = OnCpu(new IlgpuKernelOptions()),
    };

    private static Lazy<(IKernelBackend? Backend, string Reason)> OnCpu(IlgpuKernelOptions options) => new(() =>
    {
        try { return (new IlgpuKernelBackend(IlgpuKernelBackend.ListDevices().Count - 1, options), ""); }
        catch (Exception e) { return (null, $"ILGPU could not start: {e.GetType().Name}: {e.Message}"); }
    });

    public static (IKernelBackend? Backend, string Reason) Get(string name) => name switch
    {
        "native" => Native.Value,
        "ilgpu" => Ilgpu.Value,
        _ when Configured.TryGetValue(name, out var b) => b.Value,
        _ => throw new ArgumentException($"Unknown backend '{name}'."),
    };

    public static readonly ManagedKernelBackend Oracle = new();
}

/// <summary>A theory that is skipped, with the backend's reason, when the backend cannot run here.</summary>
public sealed class BackendTheoryAttribute : TheoryAttribute
{
    public BackendTheoryAttribute(string backend)
    {
        var (b, reason) = Backends.Get(backend);
        if (b == null) Skip = $"backend '{backend}' cannot run: {reason}";
    }
}

/// <summary>A fact that is skipped, with the backend's reason, when the backend cannot run here.</summary>
public sealed class BackendFactAttribute : FactAttribute
{
    public BackendFactAttribute(string backend)
    {
        var (b, reason) = Backends.Get(backend);
        if (b == null) Skip = $"backend '{backend}' cannot run: {reason}";
    }
}

/// <summary>The contract every backend meets against the managed oracle, for float and double.</summary>
public static class Contract
{
    public static T[] Random<T>(int n, int seed) where T : IFloatingPointIeee754<T>
    {
        var r = new Random(seed);
        var a = new T[n];
        for (int i = 0; i < n; i++) a[i] = T.CreateChecked(r.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>max |x - y| &lt;= tol (max |y| + tiny): 1e-10 in double (the cross-backend bound), 2e-4 in float.</summary>
    public static void Close<T>(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, string what) where T : IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        double tol = typeof(T) == typeof(double) ? 1e-10 : 2e-4;
        double scale = 0, err = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateChecked(expected[i]), a = double.CreateChecked(actual[i]);
            Assert.False(double.IsNaN(a), $"{what}: NaN at {i}");
            scale = Math.Max(scale, Math.Abs(e));
            err = Math.Max(err, Math.Abs(e - a));
        }
        Assert.True(err <= tol * (scale + 1e-300) || err == 0, $"{what}: max error {err:E3} against scale {scale:E3} (tolerance {tol:E1} relative)");
    }

    public static void Gemm<T>(IKernelBackend b, int s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            int m = s, n = 7, k = Math.Min(s, 33);
            var a = Random<T>(m * k, 1); var bb = Random<T>(k * n, 2);
            var c0 = Random<T>(m * n, 3); var c1 = (T[])c0.Clone();
            T alpha = T.CreateChecked(0.75), beta = T.CreateChecked(-0.5);
            Backends.Oracle.Gemm(ta, tb, m, n, k, alpha, a, bb, beta, c0);
            b.Gemm(ta, tb, m, n, k, alpha, a, bb, beta, c1);
            Close<T>(c0, c1, $"GEMM {ta}/{tb} m={m}");
        }
    }

    /// <summary>GEMM of one shape in the four transposition cases, with beta = 0 (C starts as NaN: it must not be read) and beta != 0.</summary>
    public static void GemmShape<T>(IKernelBackend b, int m, int n, int k) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var (ta, tb) in new[] { (false, false), (true, false), (false, true), (true, true) })
        {
            var a = Random<T>(m * k, 12); var bb = Random<T>(k * n, 13);
            var c0 = Random<T>(m * n, 14); var c1 = (T[])c0.Clone();
            T alpha = T.CreateChecked(1.25), beta = T.CreateChecked(0.5);
            Backends.Oracle.Gemm(ta, tb, m, n, k, alpha, a, bb, beta, c0);
            b.Gemm(ta, tb, m, n, k, alpha, a, bb, beta, c1);
            Close<T>(c0, c1, $"GEMM {ta}/{tb} {m}x{n}x{k} beta 0.5");
            var d0 = new T[m * n]; var d1 = Enumerable.Repeat(T.NaN, m * n).ToArray();
            Backends.Oracle.Gemm(ta, tb, m, n, k, alpha, a, bb, T.Zero, d0);
            b.Gemm(ta, tb, m, n, k, alpha, a, bb, T.Zero, d1);
            Close<T>(d0, d1, $"GEMM {ta}/{tb} {m}x{n}x{k} beta 0");
        }
    }

    public static void Kronecker<T>(IKernelBackend b, int s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int gDim = Math.Min(s, 17), aDim = 5, k = s;
        var g = Random<T>(gDim * gDim, 4); var a = Random<T>(aDim * aDim, 5); var v = Random<T>(k * gDim * aDim, 6);
        foreach (var (tg, ta) in new[] { (false, false), (true, true), (true, false) })
        {
            var y0 = new T[v.Length]; var y1 = new T[v.Length];
            using (var og = Backends.Oracle.Upload<T>(g)) using (var oa = Backends.Oracle.Upload<T>(a))
                Backends.Oracle.KroneckerMatmat(gDim, aDim, k, og, tg, oa, ta, v, y0);
            using (var bg = b.Upload<T>(g)) using (var ba = b.Upload<T>(a))
                b.KroneckerMatmat(gDim, aDim, k, bg, tg, ba, ta, v, y1);
            Close<T>(y0, y1, $"Kronecker {tg}/{ta}");
        }
    }

    public static void Accumulate<T>(IKernelBackend b, int s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = s, d = Math.Min(s, 17) + 2;
        var rows = Random<T>(n * d, 7);
        var f0 = Random<T>(d * d, 8);
        for (int i = 0; i < d; i++) for (int j = 0; j < i; j++) f0[i * d + j] = f0[j * d + i];
        var f1 = (T[])f0.Clone();
        T scale = T.One / T.CreateChecked(Math.Max(n, 1)), beta = T.CreateChecked(0.9);
        Backends.Oracle.AccumulateFactor(n, d, scale, rows, beta, f0);
        b.AccumulateFactor(n, d, scale, rows, beta, f1);
        Close<T>(f0, f1, "accumulate");
    }

    public static void Woodbury<T>(IKernelBackend b, int s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = Math.Min(s, 17), p = s;
        var j = Random<T>(n * p, 9); var g = Random<T>(p, 10);
        T lambda = T.CreateChecked(0.1);
        var x0 = new T[p]; var x1 = new T[p];
        using (var oj = Backends.Oracle.Upload<T>(j)) Assert.Equal(0, Backends.Oracle.WoodburySolve(n, p, oj, lambda, g, x0));
        using (var bj = b.Upload<T>(j)) Assert.Equal(0, b.WoodburySolve(n, p, bj, lambda, g, x1));
        // The solve amplifies rounding by at most cond = (lambda + ||J||^2) / lambda; float's bound scales with it.
        if (typeof(T) == typeof(float)) { var xd0 = x0.Select(double.CreateChecked).ToArray(); var xd1 = x1.Select(double.CreateChecked).ToArray();
            double sc = xd0.Select(Math.Abs).DefaultIfEmpty(0).Max(), err = xd0.Zip(xd1, (u, w) => Math.Abs(u - w)).DefaultIfEmpty(0).Max();
            Assert.True(err <= 2e-4 * (1 + 10.0 * n * p / Math.Max(p, 1)) * (sc + 1e-30), $"Woodbury float: error {err:E3}, scale {sc:E3}"); }
        else Close<T>(x0, x1, "Woodbury");
    }

    public static void Taylor<T>(IKernelBackend b, int s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int[] widths = [3, 8, 6, 2];
        var acts = new[] { TaylorActivation.Tanh, TaylorActivation.Sigmoid, TaylorActivation.Identity };
        var ws = Enumerable.Range(0, 3).Select(l => Random<T>(widths[l + 1] * widths[l], 20 + l)).ToArray();
        var bs = Enumerable.Range(0, 3).Select(l => Random<T>(widths[l + 1], 30 + l)).ToArray();
        var x = Random<T>(s * 3, 11);
        var v0 = new T[s * 2]; var l0 = new T[s * 2]; var v1 = new T[s * 2]; var l1 = new T[s * 2];
        using (var net = new TaylorNetwork<T>(Backends.Oracle, widths, ws, bs, acts)) Backends.Oracle.ForwardLaplacian(net, s, x, v0, l0);
        using (var net = new TaylorNetwork<T>(b, widths, ws, bs, acts)) b.ForwardLaplacian(net, s, x, v1, l1);
        Close<T>(v0, v1, "values");
        Close<T>(l0, l1, "Laplacians");
        acts = [TaylorActivation.Sin, TaylorActivation.Tanh, TaylorActivation.Identity];
        using (var net = new TaylorNetwork<T>(Backends.Oracle, widths, ws, bs, acts)) Backends.Oracle.ForwardLaplacian(net, s, x, v0, l0);
        using (var net = new TaylorNetwork<T>(b, widths, ws, bs, acts)) b.ForwardLaplacian(net, s, x, v1, l1);
        Close<T>(l0, l1, "Laplacians (sin)");
    }
}

/// <summary>The contract, one class per backend so that each is skipped with its own reason.</summary>
public class NativeBackendTests
{
    private static IKernelBackend B => Backends.Get("native").Backend!;
    [BackendTheory("native"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Gemm(int s) { Contract.Gemm<double>(B, s); Contract.Gemm<float>(B, s); }
    [BackendTheory("native"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Kronecker(int s) { Contract.Kronecker<double>(B, s); Contract.Kronecker<float>(B, s); }
    [BackendTheory("native"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Accumulate(int s) { Contract.Accumulate<double>(B, s); Contract.Accumulate<float>(B, s); }
    [BackendTheory("native"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Woodbury(int s) { Contract.Woodbury<double>(B, s); Contract.Woodbury<float>(B, s); }
    [BackendTheory("native"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Taylor(int s) { Contract.Taylor<double>(B, s); Contract.Taylor<float>(B, s); }
}

/// <summary>
/// The ILGPU backend on the CPU accelerator in its default configuration there (4 x 4 groups, register-blocked GEMM):
/// the GPU kernels with group barriers and shared memory emulated, every family at every size.
/// </summary>
public class IlgpuBackendTests
{
    private static IKernelBackend B => Backends.Get("ilgpu").Backend!;
    [BackendTheory("ilgpu"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Gemm(int s) { Contract.Gemm<double>(B, s); Contract.Gemm<float>(B, s); }
    [BackendTheory("ilgpu"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Kronecker(int s) { Contract.Kronecker<double>(B, s); Contract.Kronecker<float>(B, s); }
    [BackendTheory("ilgpu"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Accumulate(int s) { Contract.Accumulate<double>(B, s); Contract.Accumulate<float>(B, s); }
    [BackendTheory("ilgpu"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Woodbury(int s) { Contract.Woodbury<double>(B, s); Contract.Woodbury<float>(B, s); }
    [BackendTheory("ilgpu"), InlineData(0), InlineData(1), InlineData(17), InlineData(1025)]
    public void Taylor(int s) { Contract.Taylor<double>(B, s); Contract.Taylor<float>(B, s); }

    [BackendTheory("ilgpu"), InlineData(1, 1, 1), InlineData(3, 70, 5), InlineData(65, 63, 17), InlineData(129, 1, 33), InlineData(1, 130, 66), InlineData(200, 131, 9), InlineData(5, 5, 0)]
    public void Gemm_odd_shapes(int m, int n, int k) { Contract.GemmShape<double>(B, m, n, k); Contract.GemmShape<float>(B, m, n, k); }

    [BackendFact("ilgpu")]
    public void The_CPU_accelerator_gets_4x4_groups_and_the_register_blocked_GEMM()
    {
        var (b, reason) = Backends.Get("ilgpu");
        Assert.True(b != null, reason);
        var g = (IlgpuKernelBackend)b!;
        Assert.False(g.IsGpu);
        Assert.Equal(4, g.TileEdge);
        Assert.Equal(IlgpuGemmKernel.RegisterBlocked, g.GemmKernel);
    }

    [BackendFact("ilgpu")]
    public void Transfers_are_counted_and_resident_buffers_are_not_copied_per_call()
    {
        var (b, reason) = Backends.Get("ilgpu");
        Assert.True(b != null, reason);
        var g = Contract.Random<double>(9, 1); var a = Contract.Random<double>(16, 2); var v = Contract.Random<double>(2 * 12, 3);
        using var bg = b!.Upload<double>(g); using var ba = b.Upload<double>(a);
        long up0 = b.Transfers.Uploads, down0 = b.Transfers.Downloads, bytes0 = b.Transfers.UploadBytes;
        var y = new double[v.Length];
        b.KroneckerMatmat(3, 4, 2, bg, false, ba, false, v, y);
        Assert.Equal(1, b.Transfers.Uploads - up0); // only V: the factors stay on the device
        Assert.Equal(v.Length * 8L, b.Transfers.UploadBytes - bytes0);
        Assert.Equal(1, b.Transfers.Downloads - down0);
    }
}

/// <summary>
/// The other launch configurations, also on the CPU accelerator: 16 x 16 groups (what GPUs get) with each GEMM kernel
/// and with the per-call choice, 8 x 8 groups, and the one-element-per-thread kernel in 4 x 4 groups. Sizes 0, 1, 17
/// and GEMM shapes that are not multiples of any tile (a 256-thread group is 256 OS threads here, so size 1025 is
/// left to the default configuration above).
/// </summary>
public class IlgpuConfigurationTests
{
    public static TheoryData<string, int> Cases()
    {
        var d = new TheoryData<string, int>();
        foreach (var c in new[] { "ilgpu-16-blocked", "ilgpu-16-simple", "ilgpu-16-auto", "ilgpu-8-blocked", "ilgpu-4-simple" })
            foreach (var s in new[] { 0, 1, 17 }) d.Add(c, s);
        return d;
    }

    private static IKernelBackend Get(string config)
    {
        var (b, reason) = Backends.Get(config);
        Assert.True(b != null, $"backend '{config}' cannot run: {reason}");
        return b!;
    }

    [BackendTheory("ilgpu"), MemberData(nameof(Cases))]
    public void All_families(string config, int s)
    {
        var b = Get(config);
        Contract.Gemm<double>(b, s); Contract.Gemm<float>(b, s);
        Contract.Kronecker<double>(b, s); Contract.Kronecker<float>(b, s);
        Contract.Accumulate<double>(b, s); Contract.Accumulate<float>(b, s);
        Contract.Woodbury<double>(b, s); Contract.Woodbury<float>(b, s);
        Contract.Taylor<double>(b, s); Contract.Taylor<float>(b, s);
    }

    [BackendTheory("ilgpu")]
    [InlineData("ilgpu-16-blocked"), InlineData("ilgpu-16-simple"), InlineData("ilgpu-16-auto"), InlineData("ilgpu-8-blocked")]
    public void Gemm_odd_shapes(string config)
    {
        var b = Get(config);
        foreach (var (m, n, k) in new[] { (1, 1, 1), (3, 70, 5), (65, 63, 17), (129, 1, 33), (33, 97, 66) })
        {
            Contract.GemmShape<double>(b, m, n, k);
            Contract.GemmShape<float>(b, m, n, k);
        }
    }

    [BackendFact("ilgpu")]
    public void Launches_beyond_the_grid_limit_are_split()
    {
        // CUDA allows 65535 groups in grid Y (column blocks) and Z (batch); with the limit lowered to 2 the same split
        // runs here: 70 columns are 5 blocks of 16, and the Kronecker product's 7 columns are 7 batches.
        var b = (IlgpuKernelBackend)Get("ilgpu-split");
        b.MaxGridYZ = 2;
        Contract.GemmShape<double>(b, 9, 70, 5);
        Contract.Kronecker<double>(b, 7);
    }
}
