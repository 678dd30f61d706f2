using CurvNative.Native;
using Xunit;

namespace CurvNative.Tests.Native;

/// <summary>Data generation and comparison helpers for the native kernel tests.</summary>
internal static class NativeTestUtil
{
    public static double[] Random(long length, int seed)
    {
        var rng = new Random(seed);
        var a = new double[length];
        for (long i = 0; i < length; i++) a[i] = rng.NextDouble() * 2 - 1;
        return a;
    }

    /// <summary>Values as T; the double reference is then computed from the values rounded to T.</summary>
    public static T[] As<T>(double[] a) where T : unmanaged
    {
        if (typeof(T) == typeof(double)) return (T[])(object)a.ToArray();
        if (typeof(T) == typeof(float)) return (T[])(object)a.Select(v => (float)v).ToArray();
        throw new NotSupportedException(typeof(T).Name);
    }

    public static double[] ToDouble<T>(T[] a) where T : unmanaged
    {
        if (a is double[] d) return d.ToArray();
        if (a is float[] f) return f.Select(v => (double)v).ToArray();
        throw new NotSupportedException(typeof(T).Name);
    }

    /// <summary>Rounds through T, so that reference inputs equal what the kernel sees.</summary>
    public static double[] Round<T>(double[] a) where T : unmanaged => ToDouble(As<T>(a));

    public static double Tolerance<T>() => typeof(T) == typeof(float) ? 1e-5 : 1e-12;

    /// <summary>
    /// Element-wise check against the standard floating-point summation bound: |actual_i - expected_i| must be
    /// at most tol * bound_i, where bound_i is the sum of the absolute values of the terms that make up
    /// element i (the reference applied to |inputs|). Relative to the data, not to a result that may have
    /// cancelled to almost nothing; elements made of no terms must be exactly zero.
    /// </summary>
    public static void AssertClose(double[] expected, double[] actual, double[] bound, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.Equal(expected.Length, bound.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= tol * bound[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R} but the reference is {expected[i]:R} " +
                    $"(|diff| = {err:E3} > {tol:E0} * sum|terms| {bound[i]:E3}).");
        }
    }

    public static double[] Abs(double[] a) => a.Select(Math.Abs).ToArray();

    public static double Dot(double[] a, double[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static double AbsDot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += Math.Abs(a[i] * b[i]);
        return s;
    }
}

/// <summary>Straightforward loop implementations (float64) that the native kernels are checked against.</summary>
internal static class ConvReference
{
    private static bool Tap(in Conv2dGeometry g, int oh, int ow, int i, int j, out int ih, out int iw)
    {
        ih = oh * g.StrideH - g.PadH + i;
        iw = ow * g.StrideW - g.PadW + j;
        return ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width;
    }

    private static long X(in Conv2dGeometry g, int b, int c, int h, int w) =>
        (((long)b * g.InChannels + c) * g.Height + h) * g.Width + w;
    private static long Y(in Conv2dGeometry g, int b, int c, int h, int w) =>
        (((long)b * g.OutChannels + c) * g.OutHeight + h) * g.OutWidth + w;
    private static long W(in Conv2dGeometry g, int co, int ci, int i, int j) =>
        (((long)co * g.InChannels + ci) * g.KernelH + i) * g.KernelW + j;
    private static long Col(in Conv2dGeometry g, int b, int ci, int i, int j, int oh, int ow) =>
        ((long)b * g.PatchSize + ((long)ci * g.KernelH + i) * g.KernelW + j) * ((long)g.OutHeight * g.OutWidth)
        + (long)oh * g.OutWidth + ow;

    public static double[] Forward(in Conv2dGeometry g, double[] x, double[] w)
    {
        var y = new double[g.OutputLength];
        for (int b = 0; b < g.N; b++)
        for (int co = 0; co < g.OutChannels; co++)
        for (int oh = 0; oh < g.OutHeight; oh++)
        for (int ow = 0; ow < g.OutWidth; ow++)
        {
            double s = 0;
            for (int ci = 0; ci < g.InChannels; ci++)
            for (int i = 0; i < g.KernelH; i++)
            for (int j = 0; j < g.KernelW; j++)
                if (Tap(g, oh, ow, i, j, out int ih, out int iw))
                    s += x[X(g, b, ci, ih, iw)] * w[W(g, co, ci, i, j)];
            y[Y(g, b, co, oh, ow)] = s;
        }
        return y;
    }

    public static double[] InputGrad(in Conv2dGeometry g, double[] gy, double[] w)
    {
        var gx = new double[g.InputLength];
        for (int b = 0; b < g.N; b++)
        for (int co = 0; co < g.OutChannels; co++)
        for (int oh = 0; oh < g.OutHeight; oh++)
        for (int ow = 0; ow < g.OutWidth; ow++)
        for (int ci = 0; ci < g.InChannels; ci++)
        for (int i = 0; i < g.KernelH; i++)
        for (int j = 0; j < g.KernelW; j++)
            if (Tap(g, oh, ow, i, j, out int ih, out int iw))
                gx[X(g, b, ci, ih, iw)] += gy[Y(g, b, co, oh, ow)] * w[W(g, co, ci, i, j)];
        return gx;
    }

    public static double[] WeightGrad(in Conv2dGeometry g, double[] x, double[] gy)
    {
        var gw = new double[g.WeightLength];
        for (int co = 0; co < g.OutChannels; co++)
        for (int ci = 0; ci < g.InChannels; ci++)
        for (int i = 0; i < g.KernelH; i++)
        for (int j = 0; j < g.KernelW; j++)
        {
            double s = 0;
            for (int b = 0; b < g.N; b++)
            for (int oh = 0; oh < g.OutHeight; oh++)
            for (int ow = 0; ow < g.OutWidth; ow++)
                if (Tap(g, oh, ow, i, j, out int ih, out int iw))
                    s += gy[Y(g, b, co, oh, ow)] * x[X(g, b, ci, ih, iw)];
            gw[W(g, co, ci, i, j)] = s;
        }
        return gw;
    }

    public static double[] Unfold(in Conv2dGeometry g, double[] x)
    {
        var cols = new double[g.ColumnsLength];
        for (int b = 0; b < g.N; b++)
        for (int ci = 0; ci < g.InChannels; ci++)
        for (int i = 0; i < g.KernelH; i++)
        for (int j = 0; j < g.KernelW; j++)
        for (int oh = 0; oh < g.OutHeight; oh++)
        for (int ow = 0; ow < g.OutWidth; ow++)
            cols[Col(g, b, ci, i, j, oh, ow)] = Tap(g, oh, ow, i, j, out int ih, out int iw) ? x[X(g, b, ci, ih, iw)] : 0;
        return cols;
    }

    public static double[] Fold(in Conv2dGeometry g, double[] cols)
    {
        var x = new double[g.InputLength];
        for (int b = 0; b < g.N; b++)
        for (int ci = 0; ci < g.InChannels; ci++)
        for (int i = 0; i < g.KernelH; i++)
        for (int j = 0; j < g.KernelW; j++)
        for (int oh = 0; oh < g.OutHeight; oh++)
        for (int ow = 0; ow < g.OutWidth; ow++)
            if (Tap(g, oh, ow, i, j, out int ih, out int iw))
                x[X(g, b, ci, ih, iw)] += cols[Col(g, b, ci, i, j, oh, ow)];
        return x;
    }

    /// <summary>PyTorch CPU semantics: padding is -inf, a later element wins only if strictly larger or NaN.
    /// Indices are flat into the whole of x.</summary>
    public static (double[] Y, long[] Argmax) MaxPool(in Pool2dGeometry g, double[] x)
    {
        var y = new double[g.OutputLength];
        var idx = new long[g.OutputLength];
        long o = 0;
        for (int b = 0; b < g.N; b++)
        for (int c = 0; c < g.Channels; c++)
        for (int oh = 0; oh < g.OutHeight; oh++)
        for (int ow = 0; ow < g.OutWidth; ow++, o++)
        {
            double m = double.NegativeInfinity;
            long best = -1;
            for (int i = 0; i < g.KernelH; i++)
            for (int j = 0; j < g.KernelW; j++)
            {
                int ih = oh * g.StrideH - g.PadH + i, iw = ow * g.StrideW - g.PadW + j;
                if (ih < 0 || ih >= g.Height || iw < 0 || iw >= g.Width) continue;
                long k = (((long)b * g.Channels + c) * g.Height + ih) * g.Width + iw;
                if (best < 0) best = k;
                if (x[k] > m || double.IsNaN(x[k])) { m = x[k]; best = k; }
            }
            y[o] = m;
            idx[o] = best;
        }
        return (y, idx);
    }
}
